"""Building the tokenizer and the sequence-classification model a trial fine-tunes.

The ``model`` block and the ``trainer.freeze*`` options come complete and checked from the schema
(``ModelSchema``, ``TrainerSchema``: every key present, ``init`` and ``freeze`` among their
choices); what is checked here needs the model itself (its config's attributes, its layers).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from hpo.errors import ConfigError
from hpo.trainers.models.lora import fold_adapters, quantization_settings
from hpo.trainers.models.lora_check import is_adapter_checkpoint

# Dropout attributes by architecture family; whichever the config has are set.
DROPOUT_ATTRIBUTES = (
    "hidden_dropout_prob", "attention_probs_dropout_prob",  # BERT family
    "dropout", "attention_dropout",  # DistilBERT, BART
    "resid_pdrop", "embd_pdrop", "attn_pdrop",  # GPT-2
)


def set_dropout(model: torch.nn.Module, dropout: float) -> None:
    """Change a built model's dropout mid-run (a replayed PBT schedule): the config's attributes,
    as :func:`load_model_config` sets them, and every dropout layer's probability."""
    config = getattr(model, "config", None)
    for attribute in DROPOUT_ATTRIBUTES:
        if config is not None and hasattr(config, attribute):
            setattr(config, attribute, dropout)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Dropout) and "lora_dropout" not in name:  # LoRA's own is model.lora.dropout
            module.p = dropout


def load_tokenizer(model: dict[str, Any]) -> PreTrainedTokenizerBase:
    """The tokenizer named by ``model.tokenizer``, else that of ``model.pretrained``."""
    source = model["tokenizer"] or model["pretrained"]
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ConfigError("model.tokenizer" if model["tokenizer"] else "model.pretrained",
                          f"cannot load a tokenizer from {source!r}: {str(exc).splitlines()[0]}") from None


def load_model_config(model: dict[str, Any], dropout: float | None, **task_settings: Any) -> PretrainedConfig:
    """The model's config with the task's settings (labels, problem type), the searched dropout
    and any overrides; a model with no ``pretrained`` source is built from ``architecture``."""
    try:
        if model["pretrained"]:
            config = AutoConfig.from_pretrained(model["pretrained"], **task_settings)
        elif model["architecture"]:
            config = AutoConfig.for_model(model["architecture"], **task_settings)
        else:
            raise ConfigError("model.pretrained", "set a pretrained model (name or folder), or model.architecture with model.init=random")
    except (OSError, ValueError) as exc:
        source = model["pretrained"] or model["architecture"]
        key = "model.pretrained" if model["pretrained"] else "model.architecture"
        raise ConfigError(key, f"cannot load a model config from {source!r}: {str(exc).splitlines()[0]}") from None
    for key, value in model["config_overrides"].items():
        if not hasattr(config, key):
            raise ConfigError(f"model.config_overrides.{key}", f"not an attribute of {type(config).__name__}")
        setattr(config, key, value)
    if dropout is not None:
        for attribute in DROPOUT_ATTRIBUTES:
            if hasattr(config, attribute):
                setattr(config, attribute, dropout)
    return config


def build_model(model: dict[str, Any], auto_class: type, dropout: float | None, **task_settings: Any) -> PreTrainedModel:
    """``auto_class`` (e.g. ``AutoModelForCausalLM``) with pretrained weights, or random weights (``init: random``)."""
    config = load_model_config(model, dropout, **task_settings)
    if model["init"] == "random":
        return auto_class.from_config(config)
    if not model["pretrained"]:
        raise ConfigError("model.pretrained", "init=pretrained needs pretrained weights (a name or folder)")
    if is_adapter_checkpoint(model["pretrained"]):  # an exported LoRA checkpoint: its base with the adapters folded in
        return fold_adapters(model["pretrained"], auto_class, config)
    return auto_class.from_pretrained(model["pretrained"], config=config, **quantization_settings(model["lora"]))


def build_classifier(model: dict[str, Any], label_names: list[str], dropout: float | None, problem_type: str | None = None) -> PreTrainedModel:
    """A sequence classifier (or regressor, one output): the encoder plus a new head."""
    settings: dict[str, Any] = {"num_labels": len(label_names)}
    if problem_type == "regression":
        settings["problem_type"] = "regression"
    else:
        settings.update(id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)})
    return build_model(model, AutoModelForSequenceClassification, dropout, **settings)


def freeze(model: PreTrainedModel, what: str, first_layers: int) -> None:
    """Freeze the embeddings, the first ``first_layers`` encoder layers, or everything but the head
    (``trainer.freeze`` and ``trainer.freeze_layers``, whose choices the schema checked).

    Transfer learning with little data often does better, and trains faster, when the lower
    layers keep their pretrained weights.

    Raises:
        ConfigError: more layers than the model has.
    """
    base = model.base_model
    if what == "all_but_head":
        for param in base.parameters():
            param.requires_grad = False
        return
    if what == "embeddings":
        for param in base.get_input_embeddings().parameters():
            param.requires_grad = False
        embeddings = getattr(base, "embeddings", None)  # BERT: positions, types and LayerNorm too
        for param in (embeddings.parameters() if embeddings is not None else ()):
            param.requires_grad = False
    if first_layers:
        layers = find_layers(base)
        if first_layers > len(layers):
            raise ConfigError("trainer.freeze_layers", f"the model has {len(layers)} layers", value=first_layers)
        for layer in layers[:first_layers]:
            for param in layer.parameters():
                param.requires_grad = False


def find_layers(base: PreTrainedModel, key: str = "trainer.freeze_layers") -> list:
    """The stack of transformer layers of a base model (BERT, GPT-2, DistilBERT, Llama-style).

    Raises:
        ConfigError: naming ``key``, the option that needs the layers, for an unknown architecture.
    """
    for path in ("encoder.layer", "h", "layers", "transformer.layer"):
        node = base
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if node is not None:
            return list(node)
    raise ConfigError(key, f"cannot find the layers of {type(base).__name__}")


def check_positions(config: PretrainedConfig, max_seq_length: int) -> None:
    """The longest sequence a trial may build fits the model's position embeddings (BERT-style models
    fail on a longer one with a shape mismatch in every trial, after the data was prepared).

    Raises:
        ConfigError: naming ``trainer.max_seq_length`` and the model's limit.
    """
    positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    if positions and max_seq_length > positions:
        raise ConfigError("trainer.max_seq_length", f"the model sees at most {positions} positions "
                          f"({type(config).__name__}.max_position_embeddings); lower it, or the top of its search range",
                          value=max_seq_length)
