"""LoRA adapters (peft) on a task's model, and the weights of a trained model read back either way.

With ``model.lora.enabled`` the task's model (the pretrained body and its new head) is wrapped by
``peft.get_peft_model``: every base weight is frozen, low-rank adapters are added to the target
modules, and the head stays trainable (peft's ``SEQ_CLS`` and ``QUESTION_ANS`` task types keep it in
``modules_to_save``). A checkpoint then holds only the adapters and the head
(``adapter_model.safetensors`` with ``adapter_config.json``), a few percent of the model; building
the base model again and loading them gives the trained model back. The driver's check of the
block is ``hpo.trainers.models.lora_check``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import PreTrainedModel

from hpo.errors import ConfigError
from hpo.trainers.models.lora_check import KEY

FULL_WEIGHTS_FILE = "model.safetensors"  # written by save_pretrained, not by hpo: so not one of hpo.layout's names
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"  # written by peft's save_pretrained
# model.lora.target_modules by name -> peft's target_modules (None: peft's default for the architecture)
TARGETS: dict[str, str | None] = {"attention": None, "all_linear": "all-linear"}


def add_lora(model: PreTrainedModel, lora: dict[str, Any], task_type: str) -> PreTrainedModel:
    """``model`` with LoRA adapters when ``lora['enabled']`` (peft's ``task_type``), else ``model`` itself.

    Raises:
        ConfigError: ``model.lora.target_modules`` names no module of this model, or the
            architecture has no default attention projections in peft.
    """
    if not lora["enabled"]:
        return model
    from peft import (  # peft takes ~2 s to import: only LoRA runs pay it
        LoraConfig,
        get_peft_model,
        prepare_model_for_kbit_training,
    )

    targets = lora["target_modules"]
    config = LoraConfig(
        task_type=task_type, r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
        target_modules=TARGETS[targets] if isinstance(targets, str) else list(targets),
    )
    if lora["quantize"] != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        layers = (torch.nn.Linear, transformers.pytorch_utils.Conv1D)  # GPT-2's projections are Conv1D
        modules = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, layers)})
        raise ConfigError(f"{KEY}.target_modules", f"{str(exc).splitlines()[0]} ({type(model).__name__})",
                          value=targets, choices=[*TARGETS, *modules]) from None


@contextmanager
def reproducible_base(model: dict[str, Any], seed: int) -> Iterator[None]:
    """Build a randomly initialised base (``model.init=random``) under LoRA from ``seed`` alone.

    A LoRA checkpoint does not hold the frozen base weights, so test scoring, a resumed trial and
    the merged export must draw the same random base again; the global RNG is left as it was.
    A pretrained base is reloaded from its source instead, so nothing is done for it.
    """
    if not (model["lora"]["enabled"] and model["init"] == "random"):
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def quantization_settings(lora: dict[str, Any]) -> dict[str, Any]:
    """``from_pretrained`` arguments that load the base in 4-bit NF4 for QLoRA (the check kept it to GPUs)."""
    if not lora["enabled"] or lora["quantize"] == "none":
        return {}
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quantized = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                                bnb_4bit_compute_dtype=compute)
    return {"quantization_config": quantized, "device_map": {"": torch.cuda.current_device()}}


def place(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model on ``device``; a QLoRA base is on its GPU already (bitsandbytes refuses ``.to``)."""
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        return model
    return model.to(device)


def weights_file(directory: str | Path) -> Path:
    """The trained weights in a checkpoint folder: the adapters (and head) with LoRA, else the whole model.

    Raises:
        ConfigError: the folder holds neither.
    """
    directory = Path(directory)
    for name in (ADAPTER_WEIGHTS_FILE, FULL_WEIGHTS_FILE):
        if (directory / name).is_file():
            return directory / name
    raise ConfigError("checkpoint", f"no trained weights ({FULL_WEIGHTS_FILE} or {ADAPTER_WEIGHTS_FILE})", value=str(directory))


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load a checkpoint's weights into a model built as the trial built it (adapters by peft's names)."""
    if hasattr(model, "peft_config"):
        from peft import set_peft_model_state_dict  # peft takes ~2 s to import: only LoRA runs pay it

        set_peft_model_state_dict(model, weights)
    else:
        model.load_state_dict(weights, strict=False)


def save_weights(model: torch.nn.Module, directory: str | Path) -> None:
    """``save_pretrained`` of the model: with LoRA the adapters and head, plus the base's ``config.json``
    (its labels and sizes), from which :func:`merge_checkpoint` rebuilds the base."""
    model.save_pretrained(directory)
    if hasattr(model, "peft_config"):
        base = model.get_base_model()
        base.config.architectures = [type(base).__name__]  # as the base's own save_pretrained records it
        base.config.save_pretrained(directory)


def fold_adapters(checkpoint: str | Path, auto_class: type, config: Any) -> PreTrainedModel:
    """A LoRA checkpoint as a plain model: the pretrained base it recorded, its adapters folded in
    (``model.pretrained`` naming an exported LoRA checkpoint, e.g. to train the winner further).

    Raises:
        ConfigError: the recorded base cannot be loaded (a randomly initialised one was never saved).
    """
    from peft import PeftConfig, PeftModel  # peft takes ~2 s to import: only LoRA runs pay it

    base_source = PeftConfig.from_pretrained(str(checkpoint)).base_model_name_or_path
    try:
        base = auto_class.from_pretrained(base_source, config=config)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError("model.pretrained", f"cannot load the base {base_source!r} of this LoRA checkpoint "
                          f"({str(exc).splitlines()[0]}); export it with --merged and name merged/ instead",
                          value=str(checkpoint)) from None
    model = PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()
    model.requires_grad_(True)  # peft froze the base; a new run decides itself what trains (its own LoRA, freeze)
    return model


def merge_checkpoint(model: dict[str, Any], seed: int, checkpoint: str | Path, out: str | Path) -> Path:
    """Write ``out``: the adapters of ``checkpoint`` folded into the base, a plain ``save_pretrained``
    folder with the tokenizer that ``from_pretrained`` and ``pipeline`` load without peft.

    Args:
        model: the trial's ``model`` block (where the base came from); seed: its ``trainer.seed``.
    """
    from peft import PeftModel  # peft takes ~2 s to import: only LoRA runs pay it

    config = transformers.AutoConfig.from_pretrained(checkpoint)
    auto_class = getattr(transformers, config.architectures[0])
    with reproducible_base(model, seed):
        # a concrete class (the saved architecture): _from_config is what the Auto classes' from_config calls
        base = auto_class._from_config(config) if model["init"] == "random" else auto_class.from_pretrained(model["pretrained"], config=config)
    folded = PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()
    folded.save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(checkpoint).save_pretrained(out)
    return Path(out)
