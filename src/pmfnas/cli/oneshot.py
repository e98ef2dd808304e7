"""``pmfnas search --strategy gicso|darts|gdas|drnas|rsps``: one-shot search from the command line.

A one-shot method trains one supernet rather than asking for evaluations, so ``search`` hands
it here: it runs under a profile (``--profile``) for a number of supernet epochs (``--epochs``),
optionally within a wall ``--budget``, and its summary adds the NB201 tables' test accuracy of
the cell it returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pmfnas.cli.common import LazyBar, fmt, print_fields
from pmfnas.cli.guards import on_interrupt
from pmfnas.errors import ConfigError
from pmfnas.units import parse_budget


def is_oneshot(strategy: str) -> bool:
    """Whether ``strategy`` names a one-shot method (importing them, and torch, only then)."""
    from pmfnas.strategies import STRATEGIES

    if strategy in STRATEGIES.names():
        return False
    from pmfnas.oneshot import ONESHOT

    return strategy in ONESHOT.names()


def oneshot_search(
    strategy: str,
    *,
    budget: str | None,
    stopped: Callable[[], str],
    announce: Callable[[str], None] | None,
    **options: Any,
) -> dict[str, Any]:
    """Run the one-shot ``strategy`` with a progress bar over its epochs; ``options`` are
    :func:`pmfnas.runs.oneshot.run_oneshot_search`'s."""
    from pmfnas.runs.oneshot import run_oneshot_search

    limit = None
    if budget is not None:
        limit, kind = parse_budget(budget)
        if kind == "flops":
            raise ConfigError("a one-shot search spends wall time: give --budget in s/m/h")
    with LazyBar("one-shot search", " epochs") as bar, on_interrupt(stopped):
        return run_oneshot_search(
            strategy, budget=limit, progress=bar.update, announce=announce, **options
        )


def print_oneshot_summary(summary: dict[str, Any]) -> None:
    """The returned cell, what the supernet measured of it and what the tables say of it."""
    tables = summary["table_test_acc"]
    looked_up = " / ".join(f"{ds} {acc:.2f}" for ds, acc in tables.items()) if tables else "n/a"
    budget = summary["budget"]
    darts = summary.get("space") == "darts"
    rows = {
        "best architecture": summary["arch"],
        "NATS index": str(summary["index"]),
        f"supernet validation accuracy ({summary['fidelity']})": fmt(summary["val_acc"]),
        "parameter-free edges" + (" (normal cell)" if darts else ""): (
            f"{summary['parameter_free']:.0%}"
        ),
        "NB201 test accuracy (200 epochs, looked up)": looked_up,
        "NB301 surrogate validation accuracy (98 epochs)": fmt(summary["surrogate_val_acc"]),
        "wall time": f"{summary['cost']:.1f} s" + (f" of {budget:.0f} s" if budget else ""),
        "supernet epochs": str(summary["n_trials"]),
        "stopped because": summary["stop_reason"],
    }
    if darts:
        del rows["NATS index"], rows["NB201 test accuracy (200 epochs, looked up)"]
    else:
        del rows["NB301 surrogate validation accuracy (98 epochs)"]
    title = f"{summary['strategy']} (one-shot) on {summary['data']}, seed {summary['seed']}"
    title += " in the DARTS space" if darts else ""
    print_fields(title, rows)
