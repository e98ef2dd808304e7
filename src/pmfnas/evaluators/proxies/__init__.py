"""Zero-cost proxies: scores of an untrained network from one or two batches (higher = better).

``compute_proxies(network, names, inputs, targets)`` computes any of :func:`list_proxies` in as
few passes as possible. Each proxy lives in the module of its family and registers itself here.
"""

from pmfnas.evaluators.proxies import activation, datafree, gradient, size, stability
from pmfnas.evaluators.proxies.base import PROXIES, ProxyScore
from pmfnas.evaluators.proxies.compute import compute_proxies, list_proxies

__all__ = [
    "PROXIES",
    "ProxyScore",
    "activation",
    "compute_proxies",
    "datafree",
    "gradient",
    "list_proxies",
    "size",
    "stability",
]
