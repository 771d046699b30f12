"""The connection state machine every transport shares (after OpenICE's device adapters).

disconnected -> connecting -> connected -> stale, each change with a reason a nurse can read.
A transport supplies ``_session``: open the link, then deliver chunks until it is lost. This
class owns the rest: decoding, stamping, the quiet-time watchdog, reconnect with back-off for
as long as the device stays assigned (until ``close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from devices.decoders import Decoder
from devices.errors import DecodeError
from devices.measurement import ConnectionChange, DeviceEvent, Measurement, utc_now
from devices.settings import DEFAULT_SETTINGS, DeviceSettings
from vocabulary import ConnectionState

logger = logging.getLogger(__name__)


class LinkLost(Exception):
    """The link to the device went away; the message says why, for the nurse."""


class Transport(ABC):
    """One assigned device. Iterate ``events()`` for measurements and connection changes."""

    def __init__(
        self,
        source: str,
        protocol: str,
        *,
        settings: DeviceSettings = DEFAULT_SETTINGS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.source = source
        self.protocol = protocol
        self.settings = settings
        self._clock = clock
        self._queue: asyncio.Queue[DeviceEvent] = asyncio.Queue()
        self._state = ConnectionState.DISCONNECTED
        self._closed = asyncio.Event()
        self._last_reading = 0.0
        self.quiet_time_s = settings.quiet_time_for(protocol)

    @property
    def state(self) -> ConnectionState:
        return self._state

    # ---------------------------------------------------------------- for transports

    @abstractmethod
    async def _session(self) -> None:
        """Open the link, call ``_connected()``, then feed chunks until the link is lost.

        Raise ``LinkLost`` (or any OSError) with a readable message when it goes; return when
        ``self.closing`` is set.
        """

    def _set_state(self, state: ConnectionState, reason: str) -> None:
        if state is self._state:
            return
        self._state = state
        logger.info("%s: %s (%s)", self.source, state, reason)
        self._queue.put_nowait(ConnectionChange(state, reason, self._clock(), self.source))

    def _connected(self, reason: str) -> None:
        self._last_reading = asyncio.get_running_loop().time()
        self._set_state(ConnectionState.CONNECTED, reason)

    def _deliver(self, decoder: Decoder, chunk: bytes | str) -> None:
        """Decode a chunk and queue what it held; malformed frames are logged, never fatal."""
        now = self._clock()
        for result in decoder.feed(chunk):
            if isinstance(result, DecodeError):
                logger.warning("%s: %s", self.source, result)
                continue
            self._reading(result.stamped(receive_time=now, source=self.source))

    def _reading(self, measurement: Measurement) -> None:
        self._last_reading = asyncio.get_running_loop().time()
        if self._state is ConnectionState.STALE:
            self._set_state(ConnectionState.CONNECTED, "readings resumed")
        self._queue.put_nowait(measurement)

    @property
    def closing(self) -> bool:
        return self._closed.is_set()

    # ---------------------------------------------------------------- the loop

    async def events(self) -> AsyncIterator[DeviceEvent]:
        runner = asyncio.create_task(self._run(), name=f"transport {self.source}")
        try:
            while True:
                getter = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getter, runner}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                    continue
                getter.cancel()
                while not self._queue.empty():
                    yield self._queue.get_nowait()
                runner.result()  # surface a bug in the transport rather than hang
                return
        finally:
            self._closed.set()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    def __aiter__(self) -> AsyncIterator[DeviceEvent]:
        return self.events()

    async def close(self) -> None:
        """Stop reconnecting and release the device."""
        self._closed.set()

    async def _run(self) -> None:
        backoff = self.settings.backoff_delays()
        while not self.closing:
            self._set_state(ConnectionState.CONNECTING, f"connecting to {self.source}")
            session = asyncio.create_task(self._session())
            watchdog = asyncio.create_task(self._watchdog())
            closer = asyncio.create_task(self._closed.wait())
            reason = "link closed"
            try:
                await asyncio.wait({session, watchdog, closer}, return_when=asyncio.FIRST_COMPLETED)
                if session.done() and (error := session.exception()) is not None:
                    if not isinstance(error, LinkLost | OSError):
                        # Unexpected, but the device stays assigned: log it and reconnect.
                        logger.error("%s: link failed", self.source, exc_info=error)
                    reason = str(error) or type(error).__name__
                elif watchdog.done():
                    reason = str(watchdog.exception() or "no data")
            finally:
                for task in (session, watchdog, closer):
                    task.cancel()
                for task in (session, watchdog, closer):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if self._state is ConnectionState.CONNECTED or self._state is ConnectionState.STALE:
                backoff = self.settings.backoff_delays()  # a link that worked: retry soon
            if self.closing:
                self._set_state(ConnectionState.DISCONNECTED, "stopped")
                return
            delay = next(backoff)
            self._set_state(ConnectionState.DISCONNECTED, f"{reason}; retrying in {delay:g} s")
            with contextlib.suppress(TimeoutError):  # not wait_for: it can swallow a cancel
                async with asyncio.timeout(delay):
                    await self._closed.wait()
        self._set_state(ConnectionState.DISCONNECTED, "stopped")

    async def _watchdog(self) -> None:
        """Mark the link stale after the quiet time, and lost after several quiet times."""
        loop = asyncio.get_running_loop()
        while True:
            # Re-read each time: a BLE device's protocol (and so its quiet time) is known only
            # once its services are discovered.
            quiet = self.quiet_time_s
            if quiet is None:  # intermittent devices (cuffs): silence is normal
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(quiet / 4)
            if self._state not in (ConnectionState.CONNECTED, ConnectionState.STALE):
                continue
            lost_after = quiet * self.settings.stale_reconnect_factor
            silent = loop.time() - self._last_reading
            if silent >= lost_after:
                raise LinkLost(f"no reading for {silent:.0f} s: reconnecting")
            if silent >= quiet and self._state is ConnectionState.CONNECTED:
                self._set_state(ConnectionState.STALE, f"no reading for {quiet:g} s")
