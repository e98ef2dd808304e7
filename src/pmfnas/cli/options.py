"""Option grammars shared by commands: seed lists and per-strategy parameters."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pmfnas.errors import ConfigError
from pmfnas.types import check_seed
from pmfnas.units import parse_options, plain_int

MAX_SEEDS = 10_000
"""More seeds than this is a typo (``0-100000``), not a bench: refused before building the list."""

_SEED_ITEM = re.compile(r"([0-9]{1,10})(?:-([0-9]{1,10}))?")
"""A seed or a range of seeds, in ASCII digits (``\\d`` would take other scripts' digits too);
ten digits hold every seed up to :data:`~pmfnas.types.MAX_SEED`."""


def parse_seeds(text: str) -> list[int]:
    """Seeds from a count (``30`` → 0..29), a range (``0-29``) or a list (``0,3,5``, ``0-4,9``)."""
    text = text.strip()
    count = plain_int(text)
    if count is not None:
        if not 1 <= count <= MAX_SEEDS:
            raise ConfigError(f"--seeds count must lie in 1..{MAX_SEEDS}, got {text}")
        return list(range(count))
    seeds: list[int] = []
    for item in text.split(","):
        m = _SEED_ITEM.fullmatch(item.strip())
        if m is None:
            raise ConfigError(f"--seeds must be a count, A-B or a list like 0,3,5; got {text!r}")
        first = check_seed(int(m.group(1)))
        last = check_seed(int(m.group(2) or m.group(1)))
        if last < first:
            raise ConfigError(f"--seeds range {item.strip()!r} ends before it starts")
        if len(seeds) + last - first >= MAX_SEEDS:
            raise ConfigError(f"--seeds {text!r} names more than {MAX_SEEDS} seeds")
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r} names a seed twice")
    return seeds


def parse_strategy_options(items: Sequence[str], strategies: Sequence[str]) -> dict[str, dict]:
    """``["rea.population=20"]`` → ``{"rea": {"population": 20}, ...}``; each names a strategy run."""
    params: dict[str, dict[str, Any]] = {name: {} for name in strategies}
    for item in items:
        key, equals, _ = item.partition("=")
        name, dot, param = key.partition(".")
        if not (equals and dot and param):
            raise ConfigError(f"option {item!r} must be STRATEGY.KEY=VALUE, e.g. rea.population=20")
        if name not in params:
            raise ConfigError(f"option {item!r} is for {name!r}, which is not among --strategies")
        params[name].update(parse_options([item[len(name) + 1 :]]))
    return params
