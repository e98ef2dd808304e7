"""PMF-NAS, the progressive multi-fidelity strategy: stages, regions and adaptive allocation."""

from pmfnas.strategies.pmf.strategy import ProgressiveMultiFidelity

__all__ = ["ProgressiveMultiFidelity"]
