"""One command runs every benchmark: ``python -m benchmarks.run_all [--smoke] [--only NAME ...]``.

Each benchmark is a module with ``main(argv)`` that writes its JSON and Markdown to
benchmarks/results/; adding a benchmark is one entry in :data:`BENCHMARKS`.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from typing import Any

# name -> module whose ``main(argv)`` runs it
BENCHMARKS: dict[str, str] = {
    "search_efficiency": "benchmarks.search_efficiency",
    "lcbench_fidelity": "benchmarks.lcbench_fidelity",
    "overhead": "benchmarks.overhead",
    "throughput": "benchmarks.throughput",
    "finetune": "benchmarks.finetune",
    "chaos": "benchmarks.chaos",
}


def entry_point(name: str) -> Callable[[list[str]], Any]:
    """The ``main`` of a benchmark, imported only when it runs (each has its own dependencies)."""
    return importlib.import_module(BENCHMARKS[name]).main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="each benchmark's smoke mode (seconds, not a result)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    args, rest = parser.parse_known_args(argv)
    for name in args.only:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        entry_point(name)([*(["--smoke"] if args.smoke else []), *rest])
        print(f"== {name} done in {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
