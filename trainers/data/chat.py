"""Conversations for chat and instruction fine-tuning: loading them, and tokens labelled only where the assistant speaks.

A row becomes a list of ``{role, content}`` messages: a column of them (``data.chat.messages_column``,
as in the Schema-Guided Dialogue chats), or prompt columns joined into one user turn with the
response column as the reply (GPTeacher's instruction/input/response, GSM8K's question/answer).

The loss is on assistant tokens only, every assistant turn of a multi-turn chat included: the
conversation is rendered with the chat template, each assistant turn's characters are found by
rendering the conversation up to it (with the generation prompt) and up to its end, and a token
is labelled when its first character lies in such a turn. That works with any template whose
rendering of a prefix is a prefix of the whole, which is checked, not assumed. The driver's check
of the ``data.chat`` and ``trainer.chat`` blocks is ``hpo.trainers.data.chat_check``.
"""

from __future__ import annotations

from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from hpo.errors import ConfigError
from hpo.options import CHAT_TEMPLATES
from hpo.trainers.data.loading import LabelledSplits, load_file
from hpo.trainers.data.text import split_and_subsample

Message = dict[str, str]
ROLES = ("system", "user", "assistant")
IGNORED = -100  # the label torch's cross-entropy skips


def load_chat_splits(data: dict[str, Any], seed: int = 0, with_test: bool = False) -> LabelledSplits:
    """Train and evaluation datasets with one column, ``messages``; the test split with ``with_test``.

    Raises:
        ConfigError: a missing or malformed file, a missing column, a message with an unknown role.
    """
    datasets.disable_progress_bars()
    train = _conversations(data, "train_path")
    evaluation = _conversations(data, "eval_path") if data["eval_path"] else None
    test = _conversations(data, "test_path") if with_test and data["test_path"] else None
    train, evaluation, test = split_and_subsample(train, evaluation, test, data, seed, with_test)
    report = {"data/train_conversations": len(train), "data/eval_conversations": len(evaluation)}
    return LabelledSplits(train, evaluation, [], report, test)


def _conversations(data: dict[str, Any], key: str) -> datasets.Dataset:
    """The file at ``data.<key>`` as a dataset of conversations."""
    rows = load_file(data["format"], data[key], f"data.{key}")
    chat = data["chat"]
    file = data[key]
    if chat["messages_column"] in rows.column_names:
        conversations = [_checked(list(m), chat["system_prompt"], file) for m in rows[chat["messages_column"]]]
    elif chat["response_column"]:
        missing_prompt = [c for c in chat["prompt_columns"] if c not in rows.column_names]
        if chat["response_column"] not in rows.column_names:
            raise ConfigError("data.chat.response_column", f"column not found in {file}", value=chat["response_column"],
                              choices=rows.column_names)
        if missing_prompt or not chat["prompt_columns"]:
            raise ConfigError("data.chat.prompt_columns", f"the user turn's columns, not found in {file}",
                              value=missing_prompt or chat["prompt_columns"], choices=rows.column_names)
        conversations = [
            _checked([{"role": "user", "content": "\n\n".join(str(row[c]) for c in chat["prompt_columns"] if row[c])},
                      {"role": "assistant", "content": str(row[chat["response_column"]])}], chat["system_prompt"], file)
            for row in rows
        ]
    else:
        raise ConfigError("data.chat.messages_column", f"column not found in {file}; or map prompt and response "
                          "columns with data.chat.prompt_columns and data.chat.response_column",
                          value=chat["messages_column"], choices=rows.column_names)
    return datasets.Dataset.from_dict({"messages": conversations})


def _checked(messages: list[Any], system_prompt: str | None, file: str) -> list[Message]:
    """``messages`` as plain ``{role, content}`` dicts, with the system prompt first when it has none."""
    plain = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES or not isinstance(message.get("content"), str):
            raise ConfigError("data.chat.messages_column", f"a message in {file} is not {{role, content}} with a role "
                              "of the listed choices", value=str(message)[:80], choices=list(ROLES))
        plain.append({"role": role, "content": message["content"]})
    if not any(m["role"] == "assistant" for m in plain):
        raise ConfigError("data.chat.messages_column", f"a conversation in {file} has no assistant turn to learn from",
                          value=str(plain)[:80])
    if system_prompt and plain[0]["role"] != "system":
        plain.insert(0, {"role": "system", "content": system_prompt})
    return plain


def set_chat_template(tokenizer: PreTrainedTokenizerBase, template: str | None) -> None:
    """Give the tokenizer the configured template: a named one, a Jinja string, or its own.

    Raises:
        ConfigError: no template configured and the tokenizer has none (a base model's).
    """
    if template in CHAT_TEMPLATES:
        tokenizer.chat_template = CHAT_TEMPLATES[template]
    elif template:
        tokenizer.chat_template = template
    elif not tokenizer.chat_template:
        raise ConfigError("trainer.chat.template", f"the tokenizer {type(tokenizer).__name__} has no chat template: "
                          "name one, or give a Jinja template", choices=list(CHAT_TEMPLATES))


def render(tokenizer: PreTrainedTokenizerBase, messages: list[Message], prompt: bool = False) -> str:
    """The conversation as the template writes it; ``prompt`` adds the opening of the assistant's next turn."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)


def assistant_spans(tokenizer: PreTrainedTokenizerBase, messages: list[Message]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each assistant turn (its end-of-turn marker included).

    Raises:
        ConfigError: the template renders a prefix of the conversation differently from the whole.
    """
    text = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start, upto = render(tokenizer, messages[:i], prompt=True) if i else "", render(tokenizer, messages[: i + 1])
        if not (text.startswith(upto) and upto.startswith(start)):
            raise ConfigError("trainer.chat.template", "renders the start of a conversation differently from the whole "
                              "conversation, so the assistant's tokens cannot be found", choices=list(CHAT_TEMPLATES))
        spans.append((len(start), len(upto)))
    return text, spans


def pack_conversations(rows: list[dict[str, list[int]]], max_length: int) -> list[dict[str, list[int]]]:
    """Encoded conversations packed into rows of at most ``max_length`` tokens by trl's best-fit-decreasing
    packing, which never cuts a conversation; each one's positions restart at 0 (``position_ids``), as
    in trl's SFT. Fewer, fuller rows: less padding per token learned. (Attention still spans the
    conversations of a row, unless the model's attention kernel reads the restarts, as flash attention can.)"""
    from trl.data_utils import pack_dataset  # trl: only runs that pack import it

    packed = pack_dataset(datasets.Dataset.from_list(rows), max_length, strategy="bfd").to_list()
    return [{**{k: v for k, v in row.items() if k != "seq_lengths"},
             "position_ids": [p for length in row["seq_lengths"] for p in range(length)]} for row in packed]


def encode_conversation(tokenizer: PreTrainedTokenizerBase, messages: list[Message], max_length: int) -> dict[str, list[int]]:
    """Token ids, attention mask and labels: the token's id inside an assistant turn, else -100."""
    text, spans = assistant_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, truncation=True, max_length=max_length, return_offsets_mapping=True)
    labels = [token if any(start <= first < end for start, end in spans) and first < last else IGNORED
              for token, (first, last) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)]
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": labels}
