"""NAS-Bench-201: the cell space with its index order, costs, torch network and export.

``cell`` (the cell values), ``order`` (their NATS indices), ``costs`` (analytic sizes) and
``space`` need no torch and are imported here; ``network``, ``ops`` and ``export`` load torch and
are imported when used.
"""

from pmfnas.spaces.nb201.cell import EDGES, NUM_ARCHS, NUM_EDGES, OPS, check, format_cell, parse
from pmfnas.spaces.nb201.space import NB201Space

__all__ = ["EDGES", "NUM_ARCHS", "NUM_EDGES", "OPS", "NB201Space", "check", "format_cell", "parse"]
