"""The DARTS cell space (Liu et al., ICLR 2019): genotypes, operators, networks and costs.

``genotype`` (the values and their text), ``published`` (named genotypes), ``costs`` (analytic
sizes) and ``space`` need no torch and are imported here; ``ops``, ``network`` and ``supernet``
load torch and are imported when used.
"""

from pmfnas.spaces.darts.genotype import OPS, format_genotype, parse
from pmfnas.spaces.darts.published import PUBLISHED
from pmfnas.spaces.darts.space import DartsSpace

__all__ = ["OPS", "PUBLISHED", "DartsSpace", "format_genotype", "parse"]
