"""The optimizer's parameter groups: no decay on biases and norms, and layer-wise learning-rate decay.

Layer-wise decay (ULMFiT, ELECTRA) gives lower layers smaller steps: they hold general language
knowledge that fine-tuning should move least. Depth 0 is the embeddings, depth i the i-th
layer, and everything above the last layer (pooler, head, final norm) trains at the full rate.
"""

from __future__ import annotations

from typing import Any

import torch

from hpo.trainers.models.modeling import find_layers

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "ln_", "norm.weight")


def parameter_depths(model: torch.nn.Module) -> tuple[dict[int, int], int]:
    """``id(param) -> depth`` for the embeddings (0) and each layer (1..L); the rest is at depth L+1."""
    base = getattr(model, "base_model", model)
    layers = find_layers(base)
    depths: dict[int, int] = {}
    embedding_modules = [base.get_input_embeddings(), getattr(base, "embeddings", None), getattr(base, "wpe", None)]
    for module in embedding_modules:
        for param in (module.parameters() if module is not None else ()):
            depths[id(param)] = 0
    for index, layer in enumerate(layers, start=1):
        for param in layer.parameters():
            depths[id(param)] = index
    return depths, len(layers) + 1


def param_groups(model: torch.nn.Module, learning_rate: float, weight_decay: float, layer_lr_decay: float = 1.0) -> list[dict[str, Any]]:
    """AdamW groups: (depth, decays) pairs, each with its own learning rate and weight decay.

    Args:
        layer_lr_decay: 1.0 trains every layer at ``learning_rate``; below 1, depth ``d`` of ``L+1``
            trains at ``learning_rate * layer_lr_decay ** (L + 1 - d)``.
    """
    depths, top = parameter_depths(model) if layer_lr_decay != 1.0 else ({}, 0)
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        depth = depths.get(id(param), top)
        decays = not any(marker in name for marker in NO_DECAY)
        group = groups.setdefault((depth, decays), {
            "params": [],
            "weight_decay": weight_decay if decays else 0.0,
            "lr": learning_rate * layer_lr_decay ** (top - depth),
        })
        group["params"].append(param)
    return [groups[key] for key in sorted(groups)]
