"""The monitor inside the Streamlit server: one per process, on its own thread and loop.

``dashboard.py`` calls ``start_embedded`` through ``st.cache_resource``; the module-level lock
makes a second call (another tab, a rerun) return the running monitor instead of a new one.
Closing every browser tab stops nothing.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from monitor.service import MonitorService
from observations.record import TrialRecord

_lock = threading.Lock()
_running: EmbeddedMonitor | None = None


@dataclass
class EmbeddedMonitor:
    service: MonitorService
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    stop_event: asyncio.Event

    def stop(self, timeout: float = 10.0) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout)


def start_embedded(record: TrialRecord) -> EmbeddedMonitor:
    global _running
    with _lock:
        if _running is not None and _running.thread.is_alive():
            return _running
        loop = asyncio.new_event_loop()
        stop_event = asyncio.Event()
        service = MonitorService(record, kind="embedded")

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(service.run(stop_event))

        thread = threading.Thread(target=run, name="itbmon-monitor", daemon=True)
        _running = EmbeddedMonitor(service, thread, loop, stop_event)
        thread.start()
        return _running


def stop_embedded() -> None:
    global _running
    with _lock:
        if _running is not None:
            _running.stop()
            _running = None
