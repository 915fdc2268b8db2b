"""Start-up time: ``ytqa --help`` and ``import ytqa`` against a bare ``python -c pass``.

    python benchmarks/startup.py [--runs 15]

Each command runs ``--runs`` times in a fresh interpreter (the three
interleaved, after one unmeasured warm-up each); the median wall time is
printed beside the bare interpreter's, and the heavy libraries that
``import ytqa`` loaded (there should be none: they load lazily).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO_ROOT, median, percentile

HEAVY = ("torch", "chromadb", "transformers", "sentence_transformers")


def ytqa_command() -> list[str]:
    """The installed ``ytqa`` script beside this interpreter, else ``python -m ytqa.cli``."""
    script = Path(sys.executable).with_name("ytqa")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ytqa.cli"]


def wall(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=REPO_ROOT)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import ytqa'": [sys.executable, "-c", "import ytqa"],
        "ytqa --help": [*ytqa_command(), "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        wall(command)  # warm the file cache
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(wall(command))

    probe = f"import sys, ytqa; print(','.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=REPO_ROOT
    ).stdout.strip()

    base = median(times["python -c pass"])
    print(
        f"start-up: median (p90) of {args.runs} fresh runs, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}"
    )
    print("| command | median ms | p90 ms | over python -c pass |")
    print("|---|---|---|---|")
    for name, values in times.items():
        value = median(values)
        print(
            f"| {name} | {value * 1000:.0f} | {percentile(values, 90) * 1000:.0f} | "
            f"{(value - base) * 1000:+.0f} ms |"
        )
    print(f"heavy modules loaded by `import ytqa`: {loaded}")


if __name__ == "__main__":
    main()
