"""Domain adaptation: continued masked-LM training of the encoder on unlabelled in-domain text.

Stage 1 of a two-stage trial (``trainer.domain_adaptation.enabled``): the encoder keeps learning
its masked-LM objective on text from the task's domain (the training sentences with their labels
ignored, or a separate unlabelled file), is saved with ``save_pretrained``, and stage 2 fine-tunes
a classifier built from that folder. Pretraining corpora rarely look like the task's text
(reviews, tweets, clinical notes), and a little MLM training on the domain closes part of the gap
(Gururangan et al., 2020, "Don't Stop Pretraining").

A plain loop, as in ``hpo.trainers.engine.loop``: the sweep owns logging, so stage 1 only returns its
figures (``adapt/...``) for the trial to report with stage 2's.

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
from hpo.options import FILE_FORMATS, INITS
from hpo.trainers.data.loading import load_file
from hpo.trainers.models.modeling import load_model_config

KEY = "trainer.domain_adaptation"
DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "text_path": None,  # null: the task's training texts, labels ignored
    "text_column": "text",  # the column of a .tsv/.csv/.jsonl/.parquet text_path
    "max_texts": None,  # the first N texts; null: all
    "epochs": 1,
    "learning_rate": 5e-5,
    "batch_size": 16,
    "mlm_probability": 0.15,
    "max_seq_length": 128,
    "eval_fraction": 0.05,  # texts held out to measure MLM perplexity before and after; 0: none
}
# File suffix -> the format name hpo.trainers.data.loading.load_file reads; .txt is one text per line.
TABULAR_SUFFIXES = {f".{fmt}": fmt for fmt in FILE_FORMATS}
SUFFIXES = (".txt", *TABULAR_SUFFIXES)


class NonFiniteMLMLossError(RuntimeError):
    """The masked-LM loss became NaN or infinite in stage 1: the trial cannot recover."""


def settings(adapt: dict[str, Any] | None) -> dict[str, Any]:
    """The block with defaults filled in, after :func:`check_domain_adaptation`."""
    check_domain_adaptation(adapt)
    return {**DEFAULTS, **(adapt or {})}


def check_domain_adaptation(adapt: dict[str, Any] | None) -> None:
    """Check the ``trainer.domain_adaptation`` block before any trial starts.

    Every key is checked even when ``enabled`` is false, so a sweep that searches ``enabled``
    fails up front rather than in the trials that switch it on.

    Raises:
        ConfigError: naming ``trainer.domain_adaptation.<key>``: an unknown key, a value of the
            wrong type or out of range, or a ``text_path`` that is missing, empty or of an unknown
            format.
    """
    if adapt is None:
        return
    if not isinstance(adapt, dict):
        raise ConfigError(KEY, "must be a mapping of options", value=adapt, choices=DEFAULTS)
    for key in adapt:
        if key not in DEFAULTS:
            raise ConfigError(f"{KEY}.{key}", "unknown option", choices=DEFAULTS)
    cfg = {**DEFAULTS, **adapt}
    if not isinstance(cfg["enabled"], bool):
        raise ConfigError(f"{KEY}.enabled", "must be true or false", value=cfg["enabled"])
    for key in ("epochs", "batch_size", "max_seq_length"):
        _check_int(key, cfg[key], minimum=1)
    if cfg["max_texts"] is not None:
        _check_int("max_texts", cfg["max_texts"], minimum=2)
    if cfg["max_seq_length"] < 4:
        raise ConfigError(f"{KEY}.max_seq_length", "must leave room for special tokens and text (>= 4)", value=cfg["max_seq_length"])
    _check_number("learning_rate", cfg["learning_rate"], lower=0.0, upper=None)
    _check_number("mlm_probability", cfg["mlm_probability"], lower=0.0, upper=1.0)
    _check_number("eval_fraction", cfg["eval_fraction"], lower=0.0, upper=0.5, lower_open=False)
    if not isinstance(cfg["text_column"], str) or not cfg["text_column"]:
        raise ConfigError(f"{KEY}.text_column", "must be a column name", value=cfg["text_column"])
    if cfg["text_path"] is not None:
        _text_file(cfg["text_path"])


def load_unlabelled_texts(adapt: dict[str, Any], train_texts: list[str]) -> list[str]:
    """The texts stage 1 trains on: ``text_path``'s, else the task's training texts.

    Texts are stripped and empty ones dropped; ``max_texts`` keeps the first N, so the choice is
    deterministic and the same in every trial.

    Raises:
        ConfigError: the file is missing, empty, unreadable or lacks ``text_column``, or no texts
            are left.
    """
    cfg = settings(adapt)
    path = cfg["text_path"]
    if path is None:
        raw: list[Any] = list(train_texts)
        source = "the task's training texts"
    else:
        file = _text_file(path)
        source = str(file)
        if file.suffix.lower() == ".txt":
            try:
                raw = file.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{KEY}.text_path", f"{file} is not valid UTF-8 (byte {exc.start}); re-encode it as UTF-8") from None
        else:
            dataset = load_file(TABULAR_SUFFIXES[file.suffix.lower()], str(file), f"{KEY}.text_path")
            column = cfg["text_column"]
            if column not in dataset.column_names:
                raise ConfigError(f"{KEY}.text_column", f"column not found in {file}", value=column, choices=dataset.column_names)
            raw = dataset[column]
    texts = [t.strip() for t in raw if isinstance(t, str) and t.strip()]
    if cfg["max_texts"] is not None:
        texts = texts[: cfg["max_texts"]]
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
        ConfigError: bad options, a tokenizer without a mask token, or a model with no masked-LM form.
        NonFiniteMLMLossError: the loss became NaN or infinite.
    """
    cfg = settings(adapt)
    output_dir = Path(output_dir)
    if tokenizer.mask_token is None:
        raise ConfigError("model.tokenizer", f"{type(tokenizer).__name__} has no mask token, which masked-LM domain adaptation needs; "
                          f"use an encoder (BERT-like) model or set {KEY}.enabled=false")
    stage_2 = {**copy.deepcopy(model), "pretrained": str(output_dir), "init": "pretrained", "tokenizer": None, "config_overrides": {}}
    fingerprint = _fingerprint(model, cfg, texts, seed)
    reused = _reuse(output_dir, fingerprint)
    if reused is not None:
        return stage_2, {**reused, "adapt/reused": 1.0}

    started = time.perf_counter()
    set_seed(seed)
    mlm, head_initialised, carried = _build_mlm(model)
    if head_initialised:
        warnings.warn(f"{model.get('pretrained')} has no masked-LM head: stage 1 starts from a randomly initialised one "
                      f"({KEY}); give it more text or epochs", stacklevel=2)
    mlm.to(device)

    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(texts) - 1, math.ceil(cfg["eval_fraction"] * len(texts))) if cfg["eval_fraction"] > 0 else 0
    eval_texts = [texts[i] for i in order[:n_eval]]
    train_texts = [texts[i] for i in order[n_eval:]]

    # The collators' own seeded generators: the masks do not depend on the global RNG state, and
    # the held-out masks differ from the training ones.
    train_collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg["mlm_probability"], seed=seed + 1)
    eval_collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg["mlm_probability"], seed=seed + 2)
    train_rows = _tokenize(tokenizer, train_texts, cfg["max_seq_length"])
    eval_batches = [eval_collate(_tokenize(tokenizer, eval_texts[i:i + cfg["batch_size"]], cfg["max_seq_length"]))
                    for i in range(0, len(eval_texts), cfg["batch_size"])]  # masked once: before and after see the same masks
    loader = DataLoader(train_rows, batch_size=cfg["batch_size"], shuffle=True, collate_fn=train_collate,
                        generator=torch.Generator().manual_seed(seed))
    total_steps = len(loader) * cfg["epochs"]
    optimizer = torch.optim.AdamW((p for p in mlm.parameters() if p.requires_grad), lr=cfg["learning_rate"])
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=total_steps)

    metrics: dict[str, float] = {"adapt/texts": float(len(train_texts)), "adapt/eval_texts": float(len(eval_texts)),
                                 "adapt/mlm_head_initialised": float(head_initialised)}
    before = _perplexity(mlm, eval_batches, device)
    losses: list[float] = []
    mlm.train()
    for _ in range(cfg["epochs"]):
        for batch in loader:
            loss = mlm(**{k: v.to(device) for k, v in batch.items()}).loss
            if not torch.isfinite(loss):
                raise NonFiniteMLMLossError(f"masked-LM loss became {loss.item()} at step {len(losses) + 1} "
                                            f"({KEY}.learning_rate={cfg['learning_rate']})")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.item()))
    after = _perplexity(mlm, eval_batches, device)

    window = max(1, len(losses) // 10)
    metrics.update({
        "adapt/mlm_loss_first": sum(losses[:window]) / window,
        "adapt/mlm_loss_last": sum(losses[-window:]) / window,
        "adapt/steps": float(len(losses)),
    })
    if before is not None and after is not None:
        metrics.update({"adapt/perplexity_before": before, "adapt/perplexity_after": after})
    _save(mlm, carried, tokenizer, output_dir)
    metrics["adapt/seconds"] = time.perf_counter() - started
    (output_dir / DOMAIN_ADAPTATION_FILE).write_text(json.dumps({"fingerprint": fingerprint, "metrics": metrics}, indent=2))
    return stage_2, metrics


def _build_mlm(model: dict[str, Any]) -> tuple[PreTrainedModel, bool, dict[str, torch.Tensor]]:
    """The masked-LM model, whether its head is new, and the base-model weights it lacks (the pooler).

    The config comes from ``hpo.trainers.models.modeling.load_model_config``, so ``config_overrides`` apply
    exactly as for the classifier.
    """
    init = model.get("init", "pretrained")
    if init not in INITS:
        raise ConfigError("model.init", "unknown initialisation", value=init, choices=INITS)
    config = load_model_config(model, None)
    try:
        if init == "random":
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


def _fingerprint(model: dict[str, Any], cfg: dict[str, Any], texts: list[str], seed: int) -> str:
    """Identifies stage 1's inputs, so a folder it saved can be reused only for the same run."""
    digest = hashlib.sha256(json.dumps({"model": model, "adapt": {k: v for k, v in cfg.items() if k != "enabled"}, "seed": seed},
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


def _text_file(path: Any) -> Path:
    if not isinstance(path, str | Path) or not str(path):
        raise ConfigError(f"{KEY}.text_path", "must be a file path or null", value=path)
    file = Path(path).expanduser().resolve()
    if file.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{KEY}.text_path", f"unknown file format {file.suffix!r} of {file}", choices=SUFFIXES)
    if not file.is_file():
        raise ConfigError(f"{KEY}.text_path", "file not found", value=str(file))
    if file.stat().st_size == 0:
        raise ConfigError(f"{KEY}.text_path", "file is empty", value=str(file))
    return file


def _check_int(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{KEY}.{key}", f"must be an integer >= {minimum}", value=value)


def _check_number(key: str, value: Any, lower: float, upper: float | None, lower_open: bool = True) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lower if lower_open else value >= lower) and (upper is None or value < upper)
    if not ok:
        bounds = f"{'(' if lower_open else '['}{lower}, {upper if upper is not None else 'inf'})"
        raise ConfigError(f"{KEY}.{key}", f"must be a number in {bounds}", value=value)
