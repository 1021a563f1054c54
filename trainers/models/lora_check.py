"""The check of the ``model.lora`` block, made by the driver (``hpo.search.config.checks``) before Ray
starts, and what the export asks of a LoRA checkpoint.

It lives apart from ``hpo.trainers.models.lora`` so that the driver imports neither torch nor peft
to run it. It is made whether ``enabled`` is true or not, so a sweep that searches ``enabled`` or
``r`` fails up front. A ``target_modules`` name the model does not have is found only with the
model, when the trial builds it (peft names the modules it has).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.options import LORA_QUANTIZE, LORA_TARGETS

KEY = "model.lora"
ADAPTER_CONFIG_FILE = "adapter_config.json"  # written by peft's save_pretrained beside the adapters' weights


def is_adapter_checkpoint(directory: str | Path) -> bool:
    """Whether a checkpoint folder holds LoRA adapters (and the head) rather than a whole model."""
    return (Path(directory) / ADAPTER_CONFIG_FILE).is_file()


def check_lora(cfg: dict[str, Any]) -> None:
    """Check ``model.lora`` against the rest of the config (every key present, as the schema gives it).

    Raises:
        ConfigError: naming ``model.lora.<key>`` (or the option that cannot go with LoRA).
    """
    lora = cfg["model"]["lora"]
    if not isinstance(lora["r"], int) or isinstance(lora["r"], bool) or lora["r"] < 1:
        raise ConfigError(f"{KEY}.r", "the adapters' rank must be an integer >= 1", value=lora["r"])
    if not isinstance(lora["alpha"], int | float) or lora["alpha"] <= 0:
        raise ConfigError(f"{KEY}.alpha", "must be > 0 (the adapters' update is scaled by alpha / r)", value=lora["alpha"])
    if not isinstance(lora["dropout"], int | float) or not 0 <= lora["dropout"] < 1:
        raise ConfigError(f"{KEY}.dropout", "must be in [0, 1)", value=lora["dropout"])
    targets = lora["target_modules"]
    named = isinstance(targets, str) and targets in LORA_TARGETS
    listed = isinstance(targets, list | tuple) and targets and all(isinstance(t, str) and t for t in targets)
    if not (named or listed):
        raise ConfigError(f"{KEY}.target_modules", "a name or a list of module names (e.g. [query, value])",
                          value=targets, choices=list(LORA_TARGETS))
    if lora["quantize"] not in LORA_QUANTIZE:
        raise ConfigError(f"{KEY}.quantize", "unknown quantisation", value=lora["quantize"], choices=list(LORA_QUANTIZE))
    if not lora["enabled"]:
        return
    if lora["quantize"] != "none" and not cfg["resources"]["gpus_per_trial"]:
        raise ConfigError(f"{KEY}.quantize", "QLoRA's 4-bit base needs a GPU (bitsandbytes' 4-bit kernels are CUDA "
                          "kernels), and this sweep gives trials none (resources.gpus_per_trial=0): use resources=gpu, "
                          "or LoRA without quantisation on CPUs", value=lora["quantize"], choices=["none"])
    if lora["quantize"] != "none" and cfg["model"]["init"] == "random":
        raise ConfigError(f"{KEY}.quantize", "quantises pretrained weights; model.init=random has none", value=lora["quantize"], choices=["none"])
    trainer = cfg["trainer"]
    if trainer["freeze"] != "none" or trainer["freeze_layers"]:
        raise ConfigError("trainer.freeze", "LoRA already freezes every base weight (only the adapters and the head "
                          "train): set trainer.freeze=none and trainer.freeze_layers=0, or model.lora.enabled=false",
                          value=trainer["freeze"], choices=["none"])
    if trainer["layer_lr_decay"] != 1:
        raise ConfigError("trainer.layer_lr_decay", "layer-wise rates are for full fine-tuning; with LoRA only the "
                          "adapters train", value=trainer["layer_lr_decay"], choices=[1.0])
