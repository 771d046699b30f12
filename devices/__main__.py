"""``python -m devices``: scan, decode, stream. Errors are messages, never tracebacks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from devices.decoders import DecodeResult
from devices.errors import DecodeError, DeviceError
from devices.measurement import ConnectionChange, DeviceEvent, Measurement
from devices.protocols import PROTOCOLS, make_decoder
from devices.sources import open_source, parse_source
from vocabulary import LABELS, UNITS

EXIT_OK, EXIT_MALFORMED, EXIT_USAGE = 0, 1, 2
_HEX = re.compile(r"^(0x)?([0-9a-fA-F]{2})+$")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors through our exit code instead of exiting itself."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    parser = _Parser(prog="python -m devices", description="ITB Trial Monitor device adapters")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("scan", help="list recognised BLE devices and serial ports")
    decode = commands.add_parser(
        "decode",
        help="decode notifications or reads given as hex (text for masimo)",
        description="Each CHUNK is one notification or read of a single stream. Known "
        f"protocols: {', '.join(PROTOCOLS)}.",
    )
    decode.add_argument("protocol", metavar="PROTOCOL")
    decode.add_argument("chunks", metavar="CHUNK", nargs="+")
    decode.add_argument("--device-name", metavar="NAME", help="advertised name (vendor quirks)")
    stream = commands.add_parser("stream", help="print live measurements and state changes")
    stream.add_argument(
        "source",
        metavar="SOURCE",
        help="ble:ADDRESS[:PROTOCOL], serial:PATH[:PROTOCOL] or sim:SCENARIO[?speed=N]",
    )
    stream.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def _chunk_bytes(protocol: str, chunk: str) -> bytes | str:
    if protocol == "masimo":
        return chunk
    compact = "".join(chunk.split())
    if not _HEX.match(compact):
        raise UsageError(f"CHUNK {chunk!r} is not hexadecimal bytes (e.g. '87 32 05 48 62')")
    return bytes.fromhex(compact.removeprefix("0x"))


def decode_command(
    protocol: str, chunks: Sequence[str], device_name: str | None, out: TextIO
) -> int:
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; known protocols: {', '.join(PROTOCOLS)}")
    data = [_chunk_bytes(protocol, chunk) for chunk in chunks]  # all checked before any output
    decoder = make_decoder(protocol, device_name=device_name)
    results: list[DecodeResult] = []
    for chunk in data:
        results.extend(decoder.feed(chunk))
    results.extend(decoder.flush())
    malformed = False
    for result in results:
        if isinstance(result, DecodeError):
            malformed = True
            line = {"protocol": protocol, "error": str(result)}
        else:
            line = result.as_json()
        out.write(json.dumps(line, allow_nan=False) + "\n")
    return EXIT_MALFORMED if malformed else EXIT_OK


def _format_event(event: DeviceEvent) -> str:
    if isinstance(event, ConnectionChange):
        return f"{event.at:%Y-%m-%d %H:%M:%S}Z  {event.source}  link {event.state}: {event.reason}"
    assert isinstance(event, Measurement) and event.device_time is not None
    parts = [
        f"{LABELS[p]} {v:g}{(' ' + UNITS[p].display) if UNITS[p].display else ''}"
        for p, v in event.values.items()
    ]
    parts += [f"{LABELS[p]} --" for p in event.missing]
    if event.measuring:
        parts.append("measuring…")
    flags = f"  [{', '.join(event.flags)}]" if event.flags else ""
    return f"{event.device_time:%Y-%m-%d %H:%M:%S}Z  {event.source}  {'  '.join(parts)}{flags}"


def _event_json(event: DeviceEvent) -> str:
    if isinstance(event, ConnectionChange):
        return json.dumps({"event": "state", **event.as_json()})
    body = event.as_json()
    body.update(
        event="measurement",
        source=event.source,
        device_time=event.device_time.isoformat() if event.device_time else None,
        receive_time=event.receive_time.isoformat() if event.receive_time else None,
        measuring=event.measuring,
    )
    return json.dumps(body, allow_nan=False)


async def stream_command(source_text: str, as_json: bool, out: TextIO) -> int:
    try:
        device = open_source(parse_source(source_text))
    except (DeviceError, ValueError) as error:
        raise UsageError(str(error)) from error
    async for event in device.events():
        out.write((_event_json(event) if as_json else _format_event(event)) + "\n")
        out.flush()
    return EXIT_OK


async def scan_command(out: TextIO) -> int:
    from devices.serial_port import list_serial_ports

    ports = list_serial_ports()
    out.write("Serial ports:\n")
    for port in ports:
        out.write(f"  {port['path']}  {port['description']}  ({port['hwid']})\n")
    if not ports:
        out.write("  none found\n")
    out.write("Bluetooth LE devices:\n")
    from devices.ble import scan

    try:
        found = await scan()
    except DeviceError as error:
        out.write(f"  Bluetooth unavailable: {error}\n")
        return EXIT_OK
    for device in found:
        out.write(
            f"  {device.address}  {device.name or '(no name)'}  protocol {device.protocol}  "
            f"RSSI {device.rssi} dBm  -> stream ble:{device.address}:{device.protocol}\n"
        )
    if not found:
        out.write("  no supported device found (is it switched on, and not connected elsewhere?)\n")
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "decode":
            return decode_command(args.protocol, args.chunks, args.device_name, out)
        if args.command == "stream":
            with contextlib.suppress(KeyboardInterrupt):
                return asyncio.run(stream_command(args.source, args.json, out))
            return EXIT_OK
        return asyncio.run(scan_command(out))
    except UsageError as error:
        err.write(f"{error}\nRun 'python -m devices --help' for usage.\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # output piped into head/less that quit early
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the exit-time flush
        return EXIT_OK
    except Exception as error:  # the CLI's promise: a message, never a traceback
        err.write(f"error: {type(error).__name__}: {error}\n")
        return EXIT_MALFORMED


if __name__ == "__main__":
    sys.exit(main())
