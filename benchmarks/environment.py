"""What every benchmark records beside its figures: the machine and the library versions.

One helper so every result file describes its environment the same way (and a result can be
reproduced, or told apart from one made elsewhere).
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Platform, Python, CPU count and processor of this machine."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor(),
    }


def versions(*dists: str) -> dict[str, str | None]:
    """Installed version of each distribution (None where it is not installed)."""
    found: dict[str, str | None] = {}
    for dist in dists:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def git_commit() -> str | None:
    """The checkout's commit, with ``+dirty`` when tracked files differ from it (None outside git)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty.strip() else "")


def write_results(name: str, result: dict[str, Any], markdown: str, out: Path) -> dict[str, Path]:
    """``<name>.json`` and ``<name>.md`` into ``out``: every benchmark publishes the same pair."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md"}
    paths["json"].write_text(json.dumps(result, indent=1))
    paths["md"].write_text(markdown)
    return paths
