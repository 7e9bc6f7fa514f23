"""Run the benchmarks: `python -m bench [name ...]` (default: all of them).

Each `bench/bench_<name>.py` has `main() -> int` that prints its figures next to the
targets and returns non-zero only when it could not run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import signal
import sys
import time
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(here)])
        if info.name.startswith("bench_")
    )


def cpu_model() -> str:
    """The CPU's model name (Linux), to tell apart figures taken on different hosts."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def calibration_seconds() -> float:
    """Seconds for one fixed pure-Python loop, best of 3: a yardstick for the host's speed
    (the same code can run twice as fast on one VM as on another)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM (a `timeout`, a CI cancel) as if Ctrl-C: the benchmarks' `finally` blocks
    # then stop the nats-server and service processes they started.
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (of: {', '.join(names)})")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs; "
        f"calibration loop {calibration_seconds():.2f} s (lower is faster)",
        flush=True,
    )
    failures = 0
    try:
        for name in args.names or names:
            print(f"\n=== {name} ===", flush=True)
            module = importlib.import_module(f"bench.bench_{name}")
            failures += 1 if module.main() else 0
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc or 'Ctrl-C'}); the servers it started are stopped")
        return 130
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
