"""The checks of ``trainer=chat``'s blocks (``data.chat``, ``trainer.chat``), made by the driver
(``hpo.search.config.checks``) before Ray starts, free of torch and transformers imports.

A template is checked here only by name or shape; whether the tokenizer renders it, and whether
the data's columns and messages are right, is found where they load (``hpo.trainers.data.chat``),
which the driver's input check runs before any trial.
"""

from __future__ import annotations

import re
from typing import Any

from hpo.errors import ConfigError
from hpo.options import CHAT_FORMATS, CHAT_TEMPLATES


def check_chat(cfg: dict[str, Any]) -> None:
    """Check a chat sweep's data format and ``trainer.chat`` block (every key present, as the schema gives it).

    Raises:
        ConfigError: naming the key, the value and the valid choices.
    """
    data, chat = cfg["data"], cfg["trainer"]["chat"]
    if data["format"] not in CHAT_FORMATS:
        raise ConfigError("data.format", "conversations come from files for trainer=chat", value=data["format"], choices=list(CHAT_FORMATS))
    template = chat["template"]
    if template is not None and template not in CHAT_TEMPLATES and "{{" not in template and "{%" not in template:
        raise ConfigError("trainer.chat.template", "neither a named template nor a Jinja template", value=template,
                          choices=list(CHAT_TEMPLATES))
    if not isinstance(chat["generate_samples"], int) or chat["generate_samples"] < 0:
        raise ConfigError("trainer.chat.generate_samples", "must be an integer >= 0 (0: no generation)", value=chat["generate_samples"])
    if not isinstance(chat["max_new_tokens"], int) or chat["max_new_tokens"] < 1:
        raise ConfigError("trainer.chat.max_new_tokens", "must be an integer >= 1", value=chat["max_new_tokens"])
    pattern = chat["answer_pattern"]
    if pattern is not None:
        try:
            groups = re.compile(pattern).groups
        except re.error as exc:
            raise ConfigError("trainer.chat.answer_pattern", f"not a regular expression ({exc})", value=pattern) from None
        if groups > 1:
            raise ConfigError("trainer.chat.answer_pattern", "at most one group: the final answer", value=pattern)
    generated = [m for m in ("exact_match", "rouge_l") if m in cfg["trainer"]["metrics"]]
    if generated and not chat["generate_samples"]:
        raise ConfigError("trainer.chat.generate_samples", f"{', '.join(generated)} score generated replies: set it "
                          "above 0, or drop them from trainer.metrics", value=0)
