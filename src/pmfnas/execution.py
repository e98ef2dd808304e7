"""Executors run evaluation requests; the study does not care where."""

from __future__ import annotations

from collections.abc import Callable

from pmfnas.types import Arch, Fidelity, Result


class SerialExecutor:
    """Run each evaluation in this process, one after the other (the default, and the reference)."""

    workers = 1

    def run(
        self, evaluate: Callable[[Arch, Fidelity], Result], arch: Arch, fidelity: Fidelity
    ) -> Result:
        return evaluate(arch, fidelity)
