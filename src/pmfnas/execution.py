"""Executors run evaluation requests; the study does not care where."""

from __future__ import annotations

from collections.abc import Callable

from pmfnas.types import Arch, Fidelity, Result

Evaluate = Callable[[Arch, Fidelity, float | None], Result]
"""An evaluator's ``evaluate(arch, fidelity, limit)``."""


class SerialExecutor:
    """Run each evaluation in this process, one after the other (the default, and the reference)."""

    workers = 1

    def run(
        self, evaluate: Evaluate, arch: Arch, fidelity: Fidelity, limit: float | None = None
    ) -> Result:
        return evaluate(arch, fidelity, limit)
