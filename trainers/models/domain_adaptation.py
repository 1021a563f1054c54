"""Domain adaptation: continued masked-LM training of the encoder on unlabelled in-domain text.

Stage 1 of a two-stage trial (``trainer.domain_adaptation.enabled``): the encoder keeps learning
its masked-LM objective on text from the task's domain (the training sentences with their labels
ignored, or a separate unlabelled file), is saved with ``save_pretrained``, and stage 2 fine-tunes
a classifier built from that folder. Pretraining corpora rarely look like the task's text
(reviews, tweets, clinical notes), and a little MLM training on the domain closes part of the gap
(Gururangan et al., 2020, "Don't Stop Pretraining").

A plain loop, as in ``hpo.trainers.engine.loop``: the sweep owns logging, so stage 1 only returns its
figures (``adapt/...``) for the trial to report with stage 2's. The options block comes complete
from the schema (``DomainAdaptationSchema``) and was checked on the driver by
``hpo.trainers.models.domain_adaptation_check``; nothing here checks it again.

Two things are carried over that ``save_pretrained`` of a masked-LM model would lose or hide:

* Pooler weights. ``BertForMaskedLM`` has no pooler, so a checkpoint saved from it would give the
  stage-2 classifier (which classifies the pooled ``[CLS]``) a *random* pooler instead of the
  pretrained one. The pretrained base model's weights that the MLM model lacks are saved beside
  the adapted ones.
* A new MLM head. Sentence-transformers checkpoints such as all-MiniLM-L6-v2 are bare encoders
  without a masked-LM head, so ``AutoModelForMaskedLM`` initialises that head randomly: stage 1
  then first trains the head and only then moves the encoder much, so give it more text or
  epochs. The metric ``adapt/mlm_head_initialised`` (1.0) and a warning say when this happened.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    DataCollatorForLanguageModeling,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_scheduler,
    set_seed,
)

from hpo.errors import ConfigError
from hpo.layout import DOMAIN_ADAPTATION_FILE
from hpo.trainers.data.loading import load_file
from hpo.trainers.models.domain_adaptation_check import KEY, TABULAR_SUFFIXES, text_file
from hpo.trainers.models.modeling import load_model_config


class NonFiniteMLMLossError(RuntimeError):
    """The masked-LM loss became NaN or infinite in stage 1: the trial cannot recover."""


def load_unlabelled_texts(adapt: dict[str, Any], train_texts: list[str]) -> list[str]:
    """The texts stage 1 trains on: ``text_path``'s, else the task's training texts.

    Texts are stripped and empty ones dropped; ``max_texts`` keeps the first N, so the choice is
    deterministic and the same in every trial.

    Raises:
        ConfigError: the file is missing, empty, unreadable or lacks ``text_column``, or no texts
            are left.
    """
    path = adapt["text_path"]
    if path is None:
        raw: list[Any] = list(train_texts)
        source = "the task's training texts"
    else:
        file = text_file(path)
        source = str(file)
        if file.suffix.lower() == ".txt":
            try:
                raw = file.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{KEY}.text_path", f"{file} is not valid UTF-8 (byte {exc.start}); re-encode it as UTF-8") from None
        else:
            dataset = load_file(TABULAR_SUFFIXES[file.suffix.lower()], str(file), f"{KEY}.text_path")
            column = adapt["text_column"]
            if column not in dataset.column_names:
                raise ConfigError(f"{KEY}.text_column", f"column not found in {file}", value=column, choices=dataset.column_names)
            raw = dataset[column]
    texts = [t.strip() for t in raw if isinstance(t, str) and t.strip()]
    if adapt["max_texts"] is not None:
        texts = texts[: adapt["max_texts"]]
    if len(texts) < 2:
        key = f"{KEY}.text_path" if path is not None else f"{KEY}.text_path (null: the training texts)"
        raise ConfigError(key, f"{source} has {len(texts)} non-empty texts; masked-LM adaptation needs at least 2")
    return texts


def adapt_encoder(
    model: dict[str, Any],
    adapt: dict[str, Any],
    texts: list[str],
    tokenizer: PreTrainedTokenizerBase,
    output_dir: str | Path,
    seed: int,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, Any], dict[str, float]]:
    """Stage 1: continue masked-LM training of ``model``'s encoder on ``texts`` and save it.

    Args:
        model: the ``model`` config block (``pretrained``, ``tokenizer``, ``init``, ``config_overrides``).
        adapt: the ``trainer.domain_adaptation`` block.
        texts: from :func:`load_unlabelled_texts`; ``eval_fraction`` of them are held out.
        tokenizer: the trial's tokenizer (it needs a mask token); saved with the model.
        output_dir: where the adapted encoder is saved. A folder already holding an adaptation
            with the same inputs is reused as it is (a resumed trial does not train stage 1 again).
        seed: fixes the held-out split, the batch order, the masks and the dropout.
        device: where to train.

    Returns:
        The model block for stage 2 (a copy of ``model`` with ``pretrained`` the saved folder,
        ``init: pretrained``, ``tokenizer: null`` and no ``config_overrides``: they are already in
        the saved config, and its weights have the shapes they give), and the figures of stage 1:
        ``adapt/mlm_loss_first`` and ``adapt/mlm_loss_last`` (mean training loss of the first and
        last tenth of the steps), ``adapt/perplexity_before`` and ``adapt/perplexity_after`` (on
        the held-out texts, the same masks both times), ``adapt/texts``, ``adapt/eval_texts``,
        ``adapt/steps``, ``adapt/seconds``, ``adapt/mlm_head_initialised``.

    Raises:
        ConfigError: a tokenizer without a mask token, or a model with no masked-LM form.
        NonFiniteMLMLossError: the loss became NaN or infinite.
    """
    output_dir = Path(output_dir)
    if tokenizer.mask_token is None:
        raise ConfigError("model.tokenizer", f"{type(tokenizer).__name__} has no mask token, which masked-LM domain adaptation needs; "
                          f"use an encoder (BERT-like) model or set {KEY}.enabled=false")
    stage_2 = {**copy.deepcopy(model), "pretrained": str(output_dir), "init": "pretrained", "tokenizer": None, "config_overrides": {}}
    fingerprint = _fingerprint(model, adapt, texts, seed)
    reused = _reuse(output_dir, fingerprint)
    if reused is not None:
        return stage_2, {**reused, "adapt/reused": 1.0}

    started = time.perf_counter()
    set_seed(seed)
    mlm, head_initialised, carried = _build_mlm(model)
    if head_initialised:
        warnings.warn(f"{model['pretrained']} has no masked-LM head: stage 1 starts from a randomly initialised one "
                      f"({KEY}); give it more text or epochs", stacklevel=2)
    mlm.to(device)
    metrics = {"adapt/mlm_head_initialised": float(head_initialised), **_train_mlm(mlm, adapt, texts, tokenizer, seed, device)}
    _save(mlm, carried, tokenizer, output_dir)
    metrics["adapt/seconds"] = time.perf_counter() - started
    (output_dir / DOMAIN_ADAPTATION_FILE).write_text(json.dumps({"fingerprint": fingerprint, "metrics": metrics}, indent=2))
    return stage_2, metrics


def _train_mlm(
    mlm: PreTrainedModel, adapt: dict[str, Any], texts: list[str], tokenizer: PreTrainedTokenizerBase, seed: int,
    device: torch.device | str,
) -> dict[str, float]:
    """Hold out ``eval_fraction`` of the texts, train on the rest, and measure the held-out perplexity
    before and after (``adapt/...`` figures)."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(texts) - 1, math.ceil(adapt["eval_fraction"] * len(texts))) if adapt["eval_fraction"] > 0 else 0
    eval_texts = [texts[i] for i in order[:n_eval]]
    train_texts = [texts[i] for i in order[n_eval:]]
    loader, eval_batches = _mlm_batches(adapt, train_texts, eval_texts, tokenizer, seed)

    before = _perplexity(mlm, eval_batches, device)
    losses = _mlm_epochs(mlm, adapt, loader, device)
    after = _perplexity(mlm, eval_batches, device)

    window = max(1, len(losses) // 10)
    metrics = {
        "adapt/texts": float(len(train_texts)),
        "adapt/eval_texts": float(len(eval_texts)),
        "adapt/mlm_loss_first": sum(losses[:window]) / window,
        "adapt/mlm_loss_last": sum(losses[-window:]) / window,
        "adapt/steps": float(len(losses)),
    }
    if before is not None and after is not None:
        metrics.update({"adapt/perplexity_before": before, "adapt/perplexity_after": after})
    return metrics


def _mlm_batches(
    adapt: dict[str, Any], train_texts: list[str], eval_texts: list[str], tokenizer: PreTrainedTokenizerBase, seed: int,
) -> tuple[DataLoader, list[dict[str, torch.Tensor]]]:
    """The shuffled, freshly masked training batches, and the held-out batches masked once, so that
    the perplexity before and after training sees the same masks.

    The collators have their own seeded generators: the masks do not depend on the global RNG
    state, and the held-out masks differ from the training ones.
    """
    train_collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=adapt["mlm_probability"], seed=seed + 1)
    eval_collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=adapt["mlm_probability"], seed=seed + 2)
    train_rows = _tokenize(tokenizer, train_texts, adapt["max_seq_length"])
    size = adapt["batch_size"]
    eval_batches = [eval_collate(_tokenize(tokenizer, eval_texts[i:i + size], adapt["max_seq_length"]))
                    for i in range(0, len(eval_texts), size)]
    loader = DataLoader(train_rows, batch_size=size, shuffle=True, collate_fn=train_collate,
                        generator=torch.Generator().manual_seed(seed))
    return loader, eval_batches


def _mlm_epochs(mlm: PreTrainedModel, adapt: dict[str, Any], loader: DataLoader, device: torch.device | str) -> list[float]:
    """``epochs`` passes of AdamW with a linear decay to zero; the loss of every step.

    Raises:
        NonFiniteMLMLossError: the loss became NaN or infinite.
    """
    optimizer = torch.optim.AdamW((p for p in mlm.parameters() if p.requires_grad), lr=adapt["learning_rate"])
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=len(loader) * adapt["epochs"])
    losses: list[float] = []
    mlm.train()
    for _ in range(adapt["epochs"]):
        for batch in loader:
            loss = mlm(**{k: v.to(device) for k, v in batch.items()}).loss
            if not torch.isfinite(loss):
                raise NonFiniteMLMLossError(f"masked-LM loss became {loss.item()} at step {len(losses) + 1} "
                                            f"({KEY}.learning_rate={adapt['learning_rate']})")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.item()))
    return losses


def _build_mlm(model: dict[str, Any]) -> tuple[PreTrainedModel, bool, dict[str, torch.Tensor]]:
    """The masked-LM model, whether its head is new, and the base-model weights it lacks (the pooler).

    The config comes from ``hpo.trainers.models.modeling.load_model_config``, so ``config_overrides`` apply
    exactly as for the classifier.
    """
    config = load_model_config(model, None)
    try:
        if model["init"] == "random":
            return AutoModelForMaskedLM.from_config(config), False, {}
        mlm, info = AutoModelForMaskedLM.from_pretrained(model["pretrained"], config=config, output_loading_info=True)
    except ValueError as exc:  # e.g. GPT-2: no masked-LM class for this config
        raise ConfigError("model.pretrained", f"{type(config).__name__} has no masked-LM model for {KEY}: {str(exc).splitlines()[0]}") from None
    head_initialised = any(not key.startswith(f"{mlm.base_model_prefix}.") for key in info["missing_keys"])
    carried: dict[str, torch.Tensor] = {}
    if info["unexpected_keys"]:  # e.g. BERT's pooler, which the MLM class drops
        base, base_info = AutoModel.from_pretrained(model["pretrained"], config=config, output_loading_info=True)
        present = set(mlm.base_model.state_dict())
        carried = {f"{mlm.base_model_prefix}.{key}": value.detach().clone() for key, value in base.state_dict().items()
                   if key not in present and key not in base_info["missing_keys"]}
        del base
    return mlm, head_initialised, carried


def _save(mlm: PreTrainedModel, carried: dict[str, torch.Tensor], tokenizer: PreTrainedTokenizerBase, output_dir: Path) -> None:
    """``save_pretrained`` of the adapted model, with the carried pretrained weights beside it.

    The folder loads as the masked-LM model (to adapt further; the carried keys are ignored) and
    as any head model of the same family (the MLM head is ignored).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    state = mlm.state_dict()
    if carried:
        state.update({key: value.to(next(iter(state.values())).device) for key, value in carried.items()})
    mlm.save_pretrained(output_dir, state_dict=state)
    tokenizer.save_pretrained(output_dir)


@torch.no_grad()
def _perplexity(mlm: PreTrainedModel, batches: list[dict[str, torch.Tensor]], device: torch.device | str) -> float | None:
    """exp of the mean loss per masked token over ``batches``; None when nothing is masked."""
    mlm.eval()
    total, count = 0.0, 0
    for batch in batches:
        masked = int((batch["labels"] != -100).sum())
        if masked == 0:
            continue
        loss = mlm(**{k: v.to(device) for k, v in batch.items()}).loss
        total, count = total + float(loss) * masked, count + masked
    mlm.train()
    return math.exp(total / count) if count else None


def _tokenize(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int) -> list[dict[str, list[int]]]:
    """Unpadded rows; the special-tokens mask spares the collator a second pass to find them."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length, return_special_tokens_mask=True)
    return [dict(zip(encoded.keys(), values, strict=True)) for values in zip(*encoded.values(), strict=True)]


def _fingerprint(model: dict[str, Any], adapt: dict[str, Any], texts: list[str], seed: int) -> str:
    """Identifies stage 1's inputs, so a folder it saved can be reused only for the same run."""
    digest = hashlib.sha256(json.dumps({"model": model, "adapt": {k: v for k, v in adapt.items() if k != "enabled"}, "seed": seed},
                                       sort_keys=True, default=str).encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _reuse(output_dir: Path, fingerprint: str) -> dict[str, float] | None:
    state_file = output_dir / DOMAIN_ADAPTATION_FILE
    if not state_file.is_file() or not (output_dir / "config.json").is_file():
        return None
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return state["metrics"] if state.get("fingerprint") == fingerprint else None
