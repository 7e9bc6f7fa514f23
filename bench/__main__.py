"""Run the benchmarks: `python -m bench [name ...]` (default: all of them).

Each `bench/bench_<name>.py` has `main() -> int` that prints its figures next to the
targets and returns non-zero only when it could not run.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(here)])
        if info.name.startswith("bench_")
    )


def main() -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (of: {', '.join(names)})")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    failures = 0
    for name in args.names or names:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        failures += 1 if module.main() else 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
