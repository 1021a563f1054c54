"""Record how long each test module took, for the xdist scheduler in tests/conftest.py.

    make test PYTEST_ARGS="-q --durations=0" | tee /tmp/suite.log
    .venv/bin/python -m tests.module_durations /tmp/suite.log

Sums pytest's setup, call and teardown times per scheduling scope (a module, or the modules that
share the CLI sweep) and writes tests/module_durations.json. The scheduler hands out the longest
scopes first; with measured times, two workers finish close together.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import DURATIONS_FILE, _imports_small_sweep

_DURATION_LINE = re.compile(r"^([\d.]+)s (?:setup|call|teardown)\s+(tests/[^:\s]+)")


def scope_seconds(log: str) -> dict[str, float]:
    """Seconds per scheduling scope from pytest's ``--durations=0`` lines."""
    tests_dir = Path(__file__).parent
    sharing = {p.name for p in tests_dir.glob("test_*.py") if _imports_small_sweep(p.read_text())}
    seconds: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        match = _DURATION_LINE.match(line.strip())
        if match:
            module = Path(match.group(2)).name
            seconds["small_sweep" if module in sharing else module] += float(match.group(1))
    return {scope: round(total, 1) for scope, total in sorted(seconds.items(), key=lambda item: -item[1])}


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m tests.module_durations <log of pytest --durations=0>")
    seconds = scope_seconds(Path(argv[0]).read_text())
    if not seconds:
        raise SystemExit(f"{argv[0]}: no --durations lines found (run pytest with --durations=0)")
    DURATIONS_FILE.write_text(json.dumps(seconds, indent=1) + "\n")
    print(f"wrote {DURATIONS_FILE}: {len(seconds)} scopes, {sum(seconds.values()):.0f} s in all")


if __name__ == "__main__":
    main(sys.argv[1:])
