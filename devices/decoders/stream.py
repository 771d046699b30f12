"""Bookkeeping shared by byte-stream decoders: bytes that never became a frame."""

from __future__ import annotations

from devices.errors import DecodeError


class UnframedBytes:
    """Counts bytes skipped while hunting for sync, so the end of a stream can report them.

    Skipping garbage before a good frame is normal (a stream is joined mid-frame) and silent;
    garbage that never leads to a frame is reported once, and not again if an error already
    covered it.
    """

    def __init__(self) -> None:
        self.count = 0
        self.reported = False

    def skip(self, n: int) -> None:
        self.count += n

    def frame_found(self) -> None:
        self.count = 0
        self.reported = False

    def error(self, message: str) -> DecodeError:
        self.reported = True
        return DecodeError(message)

    def at_end(
        self, pending: int, protocol: str, what: str = "a complete frame"
    ) -> list[DecodeError]:
        total = self.count + pending
        already = self.reported
        self.frame_found()
        if total and not already:
            return [
                DecodeError(
                    f"{protocol}: {total} byte(s) at the end of the stream did not form {what}"
                )
            ]
        return []
