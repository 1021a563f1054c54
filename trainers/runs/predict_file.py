"""``hpo predict``: batch inference on a data file with transformers' own pipelines, one output row per input row.

The model folder is the exported ``model/`` (or any hpo checkpoint): a plain ``save_pretrained``
folder loads straight into ``pipeline``; a LoRA adapter is first folded into its base, rebuilt as
its trial built it. Rows are read with the model's own column mapping; the label column, when the
file has one, is carried through untouched. Outputs keep the input order and columns, plus:

- classification: ``predicted_label``, ``score`` and ``prob_<label>`` per class
- regression: ``prediction``, in the training targets' units
- question answering: ``answer`` (empty when the model finds the question unanswerable), decoded by the
  task's own evaluation (transformers 5 has no question-answering pipeline)
- chat: ``reply``, generated greedily after the conversation (its last assistant turn left out)
- causal LM: ``continuation`` of each text
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer, pipeline
from transformers import logging as hf_logging

from hpo.errors import ConfigError
from hpo.trainers.data.chat import set_chat_template
from hpo.trainers.data.loading import LabelledSplits, check_text_cells, load_file, rename_columns
from hpo.trainers.models.lora import merge_checkpoint
from hpo.trainers.models.lora_check import is_adapter_checkpoint
from hpo.trainers.runs.test_split import evaluate_checkpoint
from hpo.trainers.tasks.registry import get_task

PIPELINES = {"classification": "text-classification", "regression": "text-classification",
             "chat": "text-generation", "causal_lm": "text-generation"}


def predict_file(config: dict[str, Any], model_dir: Path, data_file: str, out_file: Path, batch_size: int = 32,
                 progress: bool = True) -> int:
    """Write the predictions for every row of ``data_file`` to ``out_file`` (``.csv``, else JSONL: the
    caller checked the suffix, ``check_prediction_file``); returns the row count.

    Raises:
        ConfigError: the data file (missing, malformed, without the model's columns).
    """
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # one bar, over the rows: not the weights' loading
    datasets.disable_progress_bars()
    data, task = config["data"], config["trainer"]["task"]
    given = load_file(data["format"] if data["format"] != "squad" else "jsonl", data_file, "--data")
    rows = rename_columns(given, data.get("test_columns") or {}, str(data_file))
    if task == "question_answering":
        columns = _answers(config, model_dir, rows, str(data_file))
    else:
        columns = _pipeline_columns(config, model_dir, _inputs(task, rows, data, str(data_file)), batch_size, progress)
    table = given.to_pandas()  # the file's rows and column names as they were
    table = pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix.lower() == ".csv":
        table.to_csv(out_file, index=False)
    else:
        with out_file.open("w") as f:
            for record in table.to_dict(orient="records"):
                f.write(json.dumps(record, default=_plain) + "\n")
    return len(table)


def _pipeline_columns(config: dict[str, Any], model_dir: Path, inputs: list[Any], batch_size: int, progress: bool) -> list[dict[str, Any]]:
    """The prediction columns of each input, from transformers' pipeline for the task."""
    trainer, task = config["trainer"], config["trainer"]["task"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = model_dir
        if is_adapter_checkpoint(model_dir):  # pipelines load whole models: fold the adapters in first
            folder = merge_checkpoint(config["model"], trainer["seed"], model_dir, Path(scratch) / "merged")
        predict = _pipeline(task, folder, trainer)
        kwargs = _call_options(task, trainer, predict)
        outputs = predict(_stream(inputs), batch_size=batch_size, **kwargs)
        return [_columns(task, out, predict) for out in tqdm(outputs, total=len(inputs), desc="hpo predict",
                                                             unit="row", disable=not progress)]


def _answers(config: dict[str, Any], model_dir: Path, rows: datasets.Dataset, source: str) -> list[dict[str, Any]]:
    """Each question's answer, decoded over its context's windows as the trials' evaluation decodes them."""
    for column in ("question", "context"):
        if column not in rows.column_names:
            raise ConfigError("--data", f"question answering needs a {column} column; not in {source}", choices=rows.column_names)
    ids = [str(i) for i in range(len(rows))]  # the file's own ids may repeat or be missing: its row numbers key the answers
    questions = datasets.Dataset.from_dict({"id": ids, "question": rows["question"], "context": rows["context"],
                                            "answers": [{"text": [], "answer_start": []} for _ in ids]})
    _, record = evaluate_checkpoint(get_task("question_answering"), LabelledSplits(questions, questions, []), config, model_dir)
    return [{"answer": record.by_id[i]} for i in ids]


def _pipeline(task: str, folder: Path, trainer: dict[str, Any]) -> Any:
    device = 0 if torch.cuda.is_available() else -1
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if task == "chat":
        set_chat_template(tokenizer, trainer["chat"]["template"])
    if task in ("chat", "causal_lm") and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return pipeline(PIPELINES[task], model=str(folder), tokenizer=tokenizer, device=device)


def _call_options(task: str, trainer: dict[str, Any], predict: Any) -> dict[str, Any]:
    length = trainer["max_seq_length"]
    if task == "classification":
        return {"top_k": None, "truncation": True, "max_length": length}
    if task == "regression":
        return {"function_to_apply": "none", "truncation": True, "max_length": length}
    return {"max_new_tokens": trainer["chat"]["max_new_tokens"], "do_sample": False, "return_full_text": False}


def _inputs(task: str, rows: datasets.Dataset, data: dict[str, Any], source: str) -> list[Any]:
    """What the pipeline takes for each row, in order."""
    def need(column: str | None, key: str) -> str:
        if not column or column not in rows.column_names:
            raise ConfigError(key, f"column not found in {source}", value=column, choices=rows.column_names)
        check_text_cells(rows[column], column, key, source)
        return column

    if task in ("classification", "regression"):
        text = need(data["text_column"], "data.text_column")
        if data["text_pair_column"]:
            pair = need(data["text_pair_column"], "data.text_pair_column")
            return [{"text": a, "text_pair": b} for a, b in zip(rows[text], rows[pair], strict=True)]
        return list(rows[text])
    if task == "chat":
        return [_conversation(row, data["chat"], source) for row in rows]
    return list(rows[need(data["text_column"] if data["format"] != "text" else "text", "data.text_column")])


def _conversation(row: dict[str, Any], chat: dict[str, Any], source: str) -> list[dict[str, str]]:
    """The messages a reply is generated after: the row's conversation without its final assistant turn."""
    if chat["messages_column"] in row:
        messages = [{"role": m["role"], "content": m["content"]} for m in row[chat["messages_column"]]]
    elif chat["prompt_columns"] and all(c in row for c in chat["prompt_columns"]):
        messages = [{"role": "user", "content": "\n\n".join(str(row[c]) for c in chat["prompt_columns"] if row[c])}]
    else:
        raise ConfigError("data.chat.messages_column", f"neither the messages column nor the prompt columns are in {source}",
                          value=chat["messages_column"], choices=list(row))
    if messages and messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    if chat["system_prompt"] and messages and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": chat["system_prompt"]})
    return messages


def _stream(inputs: list[Any]) -> Iterator[Any]:
    """A generator, so the pipeline batches and yields results one by one (the progress bar moves)."""
    yield from inputs


def _columns(task: str, output: Any, predict: Any) -> dict[str, Any]:
    if task == "classification":
        scores = sorted(output, key=lambda s: -s["score"])
        return {"predicted_label": scores[0]["label"], "score": scores[0]["score"],
                **{f"prob_{s['label']}": s["score"] for s in sorted(output, key=lambda s: s["label"])}}
    if task == "regression":
        config = predict.model.config
        value = output[0]["score"] if isinstance(output, list) else output["score"]
        return {"prediction": value * getattr(config, "hpo_target_std", 1.0) + getattr(config, "hpo_target_mean", 0.0)}
    generated = output[0]["generated_text"]
    text = generated[-1]["content"] if isinstance(generated, list) else generated
    return {"reply" if task == "chat" else "continuation": text}


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)
