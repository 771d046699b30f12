"""Run one benchmark: ``python -m benchmarks NAME`` (e.g. ``rules``, ``monitor``, ``what-if``).

Each benchmark is a module ``benchmarks/NAME.py`` with a ``main(argv) -> int`` that prints its
figures as JSON (a hyphen in NAME is the module's underscore: ``what-if`` is
``benchmarks/what_if.py``). Benchmarks measure; they are not tests and assert nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.replace("_", "-")
        for m in pkgutil.iter_modules([str(here)])
        if not m.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] not in names:
        print(f"usage: python -m benchmarks {{{','.join(names)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"benchmarks.{argv[0].replace('-', '_')}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
