"""Building the tokenizer and the sequence-classification model a trial fine-tunes."""

from __future__ import annotations

from typing import Any

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from search.errors import ConfigError

INITS = ("pretrained", "random")
# Dropout attributes by architecture family; whichever the config has are set.
DROPOUT_ATTRIBUTES = (
    "hidden_dropout_prob", "attention_probs_dropout_prob",  # BERT family
    "dropout", "attention_dropout",  # DistilBERT, BART
    "resid_pdrop", "embd_pdrop", "attn_pdrop",  # GPT-2
)


def load_tokenizer(model: dict[str, Any]) -> PreTrainedTokenizerBase:
    """The tokenizer named by ``model.tokenizer``, else that of ``model.pretrained``."""
    source = model.get("tokenizer") or model["pretrained"]
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ConfigError("model.tokenizer" if model.get("tokenizer") else "model.pretrained",
                          f"cannot load a tokenizer from {source!r}: {str(exc).splitlines()[0]}") from None


def load_model_config(model: dict[str, Any], label_names: list[str], dropout: float | None) -> PretrainedConfig:
    """The model's config with the task's labels, the searched dropout and any overrides."""
    try:
        config = AutoConfig.from_pretrained(
            model["pretrained"],
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
        )
    except (OSError, ValueError) as exc:
        raise ConfigError("model.pretrained", f"cannot load a model config from {model['pretrained']!r}: {str(exc).splitlines()[0]}") from None
    for key, value in (model.get("config_overrides") or {}).items():
        if not hasattr(config, key):
            raise ConfigError(f"model.config_overrides.{key}", f"not an attribute of {type(config).__name__}")
        setattr(config, key, value)
    if dropout is not None:
        for attribute in DROPOUT_ATTRIBUTES:
            if hasattr(config, attribute):
                setattr(config, attribute, dropout)
    return config


def build_classifier(model: dict[str, Any], label_names: list[str], dropout: float | None) -> PreTrainedModel:
    """A sequence classifier: pretrained weights plus a new head, or random weights (``init: random``)."""
    init = model.get("init", "pretrained")
    if init not in INITS:
        raise ConfigError("model.init", "unknown initialisation", value=init, choices=INITS)
    config = load_model_config(model, label_names, dropout)
    if init == "random":
        return AutoModelForSequenceClassification.from_config(config)
    return AutoModelForSequenceClassification.from_pretrained(model["pretrained"], config=config)


FREEZE_CHOICES = ("none", "embeddings", "all_but_head")


def freeze(model: PreTrainedModel, what: str = "none", first_layers: int = 0) -> None:
    """Freeze the embeddings, the first ``first_layers`` encoder layers, or everything but the head.

    Transfer learning with little data often does better, and trains faster, when the lower
    layers keep their pretrained weights.

    Raises:
        ConfigError: an unknown choice, or more layers than the model has.
    """
    if what not in FREEZE_CHOICES:
        raise ConfigError("trainer.freeze", "unknown option", value=what, choices=FREEZE_CHOICES)
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
        layers = _layers(base)
        if first_layers > len(layers):
            raise ConfigError("trainer.freeze_layers", f"the model has {len(layers)} layers", value=first_layers)
        for layer in layers[:first_layers]:
            for param in layer.parameters():
                param.requires_grad = False


def _layers(base: PreTrainedModel) -> list:
    for path in ("encoder.layer", "h", "layers", "transformer.layer"):
        node = base
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if node is not None:
            return list(node)
    raise ConfigError("trainer.freeze_layers", f"cannot find the layers of {type(base).__name__}")
