"""The one error type users see for bad input, printed without a traceback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A user-facing configuration or input error.

    The CLI prints it as one paragraph and exits with status 2, so it must carry everything a
    user needs to fix the input: the key (or file), the bad value and the valid choices.
    """

    def __init__(
        self,
        key: str,
        message: str,
        *,
        value: Any = None,
        choices: Iterable[Any] | None = None,
    ) -> None:
        self.key = key
        self.message = message
        self.value = value
        self.choices = list(choices) if choices is not None else None
        text = f"{key}: {message}"
        if value is not None:
            text += f" (got {value!r})"
        if self.choices is not None:
            text += f". Valid choices: {', '.join(str(c) for c in self.choices)}"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Rebuilt from its parts when unpickled: a trial's error crosses to the driver through Ray,
        and the default (``cls(*args)`` with the one formatted text) fails on this signature."""
        return _rebuild, (self.key, self.message, self.value, self.choices)


def _rebuild(key: str, message: str, value: Any, choices: list[Any] | None) -> ConfigError:
    return ConfigError(key, message, value=value, choices=choices)


def unknown_name_error(key: str, name: Any, registry: Iterable[str]) -> ConfigError:
    """The error every registry raises for a name it does not know."""
    return ConfigError(key, "unknown name", value=name, choices=sorted(registry))
