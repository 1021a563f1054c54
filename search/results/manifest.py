"""The manifest written beside every exported model: what it is, how it was made, where it came from.

A checkpoint without its provenance is hard to trust months later; the manifest answers which
sweep and trial produced it, by which metric it won, the exact config (by hash), the library
versions, and the W&B run that holds its curves.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from hpo.layout import MANIFEST_FILE, WANDB_DIR
from hpo.search.config.logger import wandb_destination

LIBRARIES = ("torch", "transformers", "ray", "optuna", "datasets", "evaluate", "wandb", "hydra-core")


def config_hash(config: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of a resolved config (sorted keys, no spaces), so two
    exports of the same configuration have the same hash whatever the key order."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a trial's result depends on (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def wandb_run(cfg: dict[str, Any], sweep_dir: str | Path, run_id: str) -> dict[str, Any] | None:
    """Where a run of this sweep lives in W&B; None when the sweep ran with ``logger=none``.

    Ray's W&B callback uses the trial id as the run id. Online runs are named by
    ``entity/project/run id`` (entity left out when W&B's default entity was used); offline runs
    by their local folder and id, which ``wandb sync`` uploads. Whether the run was offline is
    read from its local folder's name, not from today's environment.
    """
    logger = cfg["logger"]
    if logger["name"] != "wandb":
        return None
    dest = wandb_destination(logger)
    local = sorted((Path(sweep_dir) / WANDB_DIR).glob(f"*run-*-{run_id}"))
    mode = ("offline" if local[-1].name.startswith("offline-") else "online") if local else dest["mode"]
    info: dict[str, Any] = {
        "mode": mode, "project": dest["project"], "entity": dest["entity"], "group": dest["group"], "run_id": run_id,
        "local_dir": str(local[-1]) if local else None,
    }
    if mode == "online":
        info["path"] = "/".join(part for part in (dest["entity"], dest["project"], run_id) if part)
    return info


def build_manifest(
    cfg: dict[str, Any],
    sweep_dir: Path,
    config: dict[str, Any],
    trial_id: str,
    best: dict[str, Any],
    rank: int,
    checkpoint: Path | None,
    source_checkpoint: Path | None,
) -> dict[str, Any]:
    """The manifest of one exported trial (``config`` is its full resolved config)."""
    metric = cfg["sweep"]["metric"]
    return {
        "sweep": cfg["sweep"]["name"],
        "sweep_dir": str(sweep_dir),
        "rank": rank,
        "metric": metric,
        "mode": cfg["sweep"]["mode"],
        "value": _scalar(best.get(metric)),
        "trial_id": trial_id,
        "epoch": _scalar(best.get("epoch")),
        "training_iteration": _scalar(best.get("training_iteration")),
        "config_hash": config_hash(config),
        "libraries": library_versions(),
        "wandb": wandb_run(cfg, sweep_dir, trial_id),
        "model": str(checkpoint) if checkpoint else None,
        "source_checkpoint": str(source_checkpoint) if source_checkpoint else None,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _scalar(value: Any) -> Any:
    """A JSON-safe scalar (metrics read back through pandas are numpy scalars)."""
    return value.item() if hasattr(value, "item") else value


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """``manifest.json`` in an exported folder."""
    path = directory / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of an exported folder (``best/`` or ``top/rank-<n>-<trial>/``)."""
    return json.loads((Path(directory) / MANIFEST_FILE).read_text())
