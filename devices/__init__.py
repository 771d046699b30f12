"""Device adapters: protocol decoders, BLE and serial transports, the simulator.

Knows nothing of the database or the rules. What the monitor uses:

- ``open_source(parse_source("sim:overdose?speed=60"))`` or ``Simulator(...)``, ``BleDevice(...)``,
  ``SerialDevice(...)``: each has ``events()``, an async iterator of ``Measurement`` and
  ``ConnectionChange``.
- ``make_decoder(protocol)`` for pure decoding (replays, tests).
"""

from devices.errors import BluetoothUnavailableError, DecodeError, DeviceError, SourceError
from devices.measurement import ConnectionChange, DeviceEvent, Measurement
from devices.protocols import PROTOCOLS, make_decoder
from devices.settings import DEFAULT_SETTINGS, DeviceSettings
from devices.simulator import Scenario, Simulator, SimulatorTiming
from devices.sources import DeviceStream, open_source, parse_source

__all__ = [
    "DEFAULT_SETTINGS",
    "PROTOCOLS",
    "BluetoothUnavailableError",
    "ConnectionChange",
    "DecodeError",
    "DeviceError",
    "DeviceEvent",
    "DeviceSettings",
    "DeviceStream",
    "Measurement",
    "Scenario",
    "Simulator",
    "SimulatorTiming",
    "SourceError",
    "make_decoder",
    "open_source",
    "parse_source",
]
