"""The model card (``README.md``) written into every exported model folder.

Whoever receives ``best/model/`` (a colleague, the Hub, a serving team) should learn from the folder
alone what the model does, how good it is on which rows, how it was chosen and where it will not
hold. The front matter is Hugging Face's model-card metadata (``huggingface_hub.ModelCardData``), so
the Hub shows the task, base model and metrics when the folder is pushed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hpo.search.results.manifest import library_versions
from hpo.search.results.records import SweepResults, TrialRecord

# transformers' pipeline task for each hpo task: what `pipeline(task, model=<folder>)` runs
PIPELINE_TAGS = {"classification": "text-classification", "regression": "text-classification",
                 "question_answering": "question-answering", "causal_lm": "text-generation", "chat": "text-generation"}
SETTINGS = ("epochs", "learning_rate", "batch_size", "weight_decay", "warmup_ratio", "lr_scheduler", "max_seq_length",
            "precision", "seed")


def model_card(config: dict[str, Any], record: TrialRecord, rank: int, results: SweepResults | None,
               test: dict[str, float] | None) -> str:
    """The card's Markdown, front matter included, for the trial ``record`` exported with its full ``config``."""
    from huggingface_hub import ModelCard, ModelCardData  # the Hub client: only an export with a model pays for it

    model, data, trainer, sweep = config["model"], config["data"], config["trainer"], config["sweep"]
    metric = sweep["metric"]
    metrics = {k: v for k, v in (record.best or {}).items() if k.startswith("eval/") and isinstance(v, (int, float))}
    lora = model.get("lora", {})
    card_data = ModelCardData(
        library_name="peft" if lora.get("enabled") else "transformers",
        pipeline_tag=PIPELINE_TAGS.get(trainer["task"]),
        base_model=model.get("pretrained") if _is_hub_name(model.get("pretrained")) else None,
        tags=["hpo", "hyperparameter-search", trainer["task"], *(["lora"] if lora.get("enabled") else [])],
        metrics=sorted({k.removeprefix("eval/") for k in metrics}),
    )
    lines = [
        f"# {sweep['name']}: {'best' if rank == 1 else f'rank {rank}'} trial {record.trial_id}",
        "",
        f"A `{trainer['task']}` model fine-tuned from {_base(model)} by an hpo sweep, "
        f"chosen out of its trials by the best `{metric}` ({sweep['mode']}) on the validation rows.",
        "", "## Task and data", "", *_data_lines(data, trainer),
        "", "## Metrics", "", *_metric_lines(metrics, record, test),
        "", "## Winning configuration", "", *_config_lines(record, trainer, lora),
        "", "## How the search ran", "", *_search_lines(config, results),
        "", "## Libraries", "", ", ".join(f"{name} {version}" for name, version in library_versions().items() if version),
        "", "## Limits", "", *_limit_lines(data, trainer, model, test is not None),
        "", "## Use", "", *_use_lines(trainer["task"]),
    ]
    return str(ModelCard("---\n" + card_data.to_yaml() + "\n---\n\n" + "\n".join(lines)))


def _metric_lines(metrics: dict[str, Any], record: TrialRecord, test: dict[str, float] | None) -> list[str]:
    return [
        "| metric | validation | test |",
        "|---|---|---|",
        *(f"| {key.removeprefix('eval/')} | {value:.4g} | {_fmt((test or {}).get('test/' + key.removeprefix('eval/')))} |"
          for key, value in sorted(metrics.items())),
        "",
        f"Validation: the rows the sweep ranked its trials on (best evaluation, epoch {_fmt(record.best.get('epoch'))}). "
        + ("Test: rows no trial trained, was ranked or was stopped on." if test else
           "No test split was configured (`data.test_path`, `test_split` or `test_fraction`): the validation figure "
           "is optimistic, since it chose this model out of many."),
    ]


def _config_lines(record: TrialRecord, trainer: dict[str, Any], lora: dict[str, Any]) -> list[str]:
    return [
        "| key | value |",
        "|---|---|",
        *(f"| `{key}` (searched) | {value} |" for key, value in sorted(record.params.items())),
        *(f"| `trainer.{key}` | {trainer[key]} |" for key in SETTINGS if f"trainer.{key}" not in record.params and key in trainer),
        *([f"| `model.lora` | r={lora['r']}, alpha={lora['alpha']}, dropout={lora['dropout']}, "
           f"target_modules={lora['target_modules']} |"] if lora.get("enabled") else []),
        "",
        "The full resolved config is `../config.yaml`; `hpo train --config ../config.yaml` trains it again.",
    ]


def _use_lines(task: str) -> list[str]:
    return [
        "```python",
        "from transformers import pipeline",
        f'predict = pipeline("{PIPELINE_TAGS.get(task, "text-classification")}", model="<this folder>")',
        "```",
        "or `hpo predict <this folder> --data FILE --out FILE`, `hpo evaluate <this folder> --data FILE`.",
        "",
    ]


def _data_lines(data: dict[str, Any], trainer: dict[str, Any]) -> list[str]:
    source = data.get("train_path") or data.get("hub_name") or data.get("format")
    lines = [f"- data: `{data['name']}` (`{source}`, format {data['format']})"]
    if trainer["task"] in ("classification", "regression"):
        columns = [data["text_column"], data.get("text_pair_column")]
        lines.append(f"- input columns: {', '.join(f'`{c}`' for c in columns if c)}; label column `{data['label_column']}`")
    for key in ("max_train_samples", "max_eval_samples", "max_test_samples"):
        if data.get(key):
            lines.append(f"- `data.{key}`: {data[key]}")
    return lines


def _search_lines(config: dict[str, Any], results: SweepResults | None) -> list[str]:
    lines = [f"- searcher `{config['searcher']['name']}`, scheduler `{config['scheduler']['name']}`"]
    if results is None:
        return lines
    statuses = Counter(r.status for r in results.records)
    lines.append(f"- {len(results.records)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    seconds = sum(float(r.history["time_total_s"].max()) for r in results.records
                  if r.history is not None and "time_total_s" in r.history and len(r.history))
    evaluations = sum(r.evaluations for r in results.records)
    lines.append(f"- compute: {seconds / 60:.1f} trial-minutes ({seconds:.0f} s), {evaluations} evaluations")
    if results.confirmation is not None:
        lines.append(f"- confirmed: the top configurations retrained with {len(results.confirmation.seeds)} seeds (`hpo confirm`)")
    return lines


def _limit_lines(data: dict[str, Any], trainer: dict[str, Any], model: dict[str, Any], tested: bool) -> list[str]:
    lines = [f"- inputs longer than {trainer['max_seq_length']} tokens were truncated in training and evaluation.",
             "- it was trained and judged only on the data above; other domains, languages or label sets are not covered."]
    if data.get("max_train_samples"):
        lines.append(f"- trained on a subset of {data['max_train_samples']} rows.")
    if not tested:
        lines.append("- no held-out test figure: expect the validation figure to be optimistic.")
    if model.get("lora", {}).get("enabled"):
        lines.append("- a LoRA adapter: it needs its base model (or load the merged folder, `hpo export --merged`).")
    return lines


def _base(model: dict[str, Any]) -> str:
    source = model.get("pretrained") or model.get("architecture")
    if model.get("init") == "random":
        return f"`{model['name']}` (the architecture of `{source}`, weights randomly initialised)"
    return f"`{model['name']}` (`{source}`)"


def _is_hub_name(name: Any) -> bool:
    """A Hub id ("org/name"), not a local path: only a Hub id is a meaningful ``base_model``."""
    return isinstance(name, str) and name.count("/") == 1 and not name.startswith((".", "/", "~"))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else ""
