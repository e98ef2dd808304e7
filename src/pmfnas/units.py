"""Parsing of the small human-typed values the CLI takes: durations and KEY=VALUE options."""

from __future__ import annotations

import math
import re
from typing import Any

from pmfnas.errors import BudgetError, ConfigError

_DURATION = re.compile(r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([smhd]?)")
_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a plain number of seconds or a number with s, m, h or d (``30m``)."""
    m = _DURATION.fullmatch(text.strip())
    seconds = float(m.group(1)) * _SECONDS[m.group(2)] if m else math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise BudgetError(
            f"budget must be a positive duration like 20000, 90s, 30m or 2h; got {text!r}"
        )
    return seconds


MAX_DIGITS = 18
"""Longer numbers are far beyond any count, index or seed pmfnas takes (and ``int`` refuses
strings of more than 4,300 digits)."""


def plain_int(text: str) -> int | None:
    """The value of ``text`` if it is written in ASCII digits, else ``None``.

    ``str.isdigit`` and ``int`` also take ``'²'`` or other scripts' digits; those are not
    numbers here. A number of more than :data:`MAX_DIGITS` digits is a :class:`ConfigError`.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text.lstrip("0")) > MAX_DIGITS:
        raise ConfigError(f"the number {text[:MAX_DIGITS]}… ({len(text)} digits) is out of range")
    return int(text)


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["population=20", "fidelity=epochs=200"]`` → ``{"population": 20, "fidelity": "epochs=200"}``."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"option {item!r} is not KEY=VALUE")
        options[key] = _value(value)
    return options
