"""The trial record: one object that pages and the monitor use; no SQL outside observations/."""

from __future__ import annotations

from sqlalchemy import Engine

from observations.alarm_review import AlarmReviews
from observations.alarms import Alarms
from observations.assessments import Assessments
from observations.audit import AuditTrail
from observations.database import open_engine
from observations.decisions import Decisions
from observations.limits import load_limits
from observations.observation_sets import ObservationSets
from observations.patients import Patients
from observations.readings import Readings
from observations.services import Services
from observations.set_scores import SetScores
from observations.settings import Settings, load_settings
from observations.store import Clock, Store, utc_now
from observations.trials import DeviceSourceCheck, Trials
from observations.users import Users


class TrialRecord:
    """Open with ``TrialRecord.open()``: creates and migrates the database on first start."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Clock = utc_now,
        device_sources: DeviceSourceCheck | None = None,
    ) -> None:
        self.settings = settings
        self.device_sources = device_sources
        self.store = Store(engine, settings.ward_timezone, clock)
        self.users = Users(self.store)
        self.patients = Patients(self.store)
        self.trials = Trials(self.store, device_sources)
        self.readings = Readings(self.store)
        self.observations = ObservationSets(self.store)
        self.assessments = Assessments(self.store)
        self.alarms = Alarms(self.store)
        # The monitor's NEWS2 of each set, due times and baseline: what every page shows.
        self.set_scores = SetScores(self.store)
        self.decisions = Decisions(self.store)
        self.audit = AuditTrail(self.store)
        # The ward's alarm figures for whoever reviews the rule file (no patient identifiers).
        self.alarm_review = AlarmReviews(self.store)
        self.services = Services(self.store)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        clock: Clock = utc_now,
        device_sources: DeviceSourceCheck | None = None,
    ) -> TrialRecord:
        """``device_sources``: the devices' check of a source text before it is assigned
        (`devices.sources.source_problem`), given by whoever has the devices at hand."""
        settings = settings or load_settings()
        load_limits()  # a broken limits file stops the start, not the first entry of the day
        return cls(open_engine(settings), settings, clock, device_sources)

    def close(self) -> None:
        self.store.engine.dispose()
