"""Where the sweep's W&B runs go, resolved once from the logger config and the environment."""

from __future__ import annotations

import os
from typing import Any


def wandb_mode(configured: str) -> str:
    """``auto``: online when an API key is in the environment, else offline (sync later)."""
    if configured != "auto":
        return configured
    if os.environ.get("WANDB_MODE") in ("online", "offline", "disabled"):
        return os.environ["WANDB_MODE"]
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def wandb_destination(logger: dict[str, Any]) -> dict[str, Any]:
    """Where the sweep's W&B runs go: project, entity, group and mode, with ``WANDB_PROJECT`` and
    ``WANDB_ENTITY`` taking precedence over the config. One place, so the trial runs and the
    sweep-summary run can never land in different projects or groups."""
    return {
        "project": os.environ.get("WANDB_PROJECT") or logger["project"],
        "entity": os.environ.get("WANDB_ENTITY") or logger["entity"],
        "group": logger["group"],
        "mode": wandb_mode(logger["mode"]),
    }
