"""Parsing of the small human-typed values the CLI takes: budgets and KEY=VALUE options."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pmfnas.errors import BudgetError, ConfigError, ParameterError

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_DURATION = re.compile(_NUMBER + r"\s*([smhd]?)")
_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_COMPUTE = re.compile(_NUMBER + r"\s*([kmgtpe]?)flops?", re.IGNORECASE)
_PREFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}

BudgetKind = Literal["seconds", "flops"]
BUDGET_HELP = "a duration like 20000, 90s, 30m or 2h, or compute like 5e14flops or 500Tflops"


def _positive(value: float, text: str) -> float:
    if not value > 0 or math.isinf(value):
        raise BudgetError(f"budget must be a positive amount, {BUDGET_HELP}; got {text!r}")
    return value


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a plain number of seconds or a number with s, m, h or d (``30m``)."""
    m = _DURATION.fullmatch(text.strip())
    return _positive(float(m.group(1)) * _SECONDS[m.group(2)] if m else math.nan, text)


def parse_budget(text: str) -> tuple[float, BudgetKind]:
    """A budget of time (see :func:`parse_duration`) or of compute: a number of FLOPs with an
    optional SI prefix and the word ``flops`` (any case), e.g. ``5e14flops``, ``500Tflops``,
    ``2.5PFLOPs``. FLOPs count as NAS-Bench-201 counts them (one per multiply-accumulate)."""
    if m := _COMPUTE.fullmatch(text.strip()):
        return _positive(float(m.group(1)) * _PREFIXES[m.group(2).lower()], text), "flops"
    return parse_duration(text), "seconds"


def format_amount(value: float, unit: str) -> str:
    """A budget amount for people, in its unit: ``9.5 s``, ``340 s``, ``1.2e+13 FLOPs``."""
    if unit == "flops":
        return f"{value:.3g} FLOPs"
    return f"{value:.1f} s" if abs(value) < 100 else f"{value:.0f} s"


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


_INTEGER = re.compile(rf"[+-]?[0-9]{{1,{MAX_DIGITS}}}")
_REAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

VALUE_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
"""The types a typed option value may have (:func:`parse_value`), and how an error names them."""


def parse_value(text: str, kind: type, name: str) -> Any:
    """``text`` (a typed option value) as ``kind``: ``int``, ``float`` (an integer stays an
    ``int``), ``bool`` or ``str``; a :class:`ParameterError` that names ``name`` otherwise, so the
    user reads "population must be an integer, got 'abc'" rather than a ``ValueError``."""
    if kind is str:
        return text
    text = text.strip()
    if kind is bool and text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if kind in (int, float) and _INTEGER.fullmatch(text):
        return int(text)
    if kind is float and _REAL.fullmatch(text):
        return float(text)
    raise ParameterError(f"{name} must be {VALUE_KINDS[kind]}, got {text!r}")


def parse_options(items: list[str]) -> dict[str, str]:
    """``["population=20", "fidelity=epochs=200"]`` → ``{"population": "20", "fidelity":
    "epochs=200"}``: the values stay text, parsed later as the type the strategy declares
    (:func:`parse_value`), so ``fidelity=12`` stays the text ``"12"``."""
    options: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            named = sep and "." in key  # a bench's STRATEGY.KEY=VALUE, given for one strategy
            hint = f" (drop the prefix {key.split('.')[0] + '.'!r})" if named else ""
            raise ConfigError(f"option {item!r} is not KEY=VALUE{hint}")
        options[key] = value
    return options
