"""Zero-cost proxies: scores of an untrained network from one or two batches (higher = better).

``compute_proxies(network, names, inputs, targets)`` computes any of :func:`list_proxies` in as
few passes as possible. Each proxy lives in the module of its family and registers itself when
that module is imported, which this package does.
"""

from pmfnas.evaluators.proxies import activation, datafree, gradient, size, stability  # noqa: F401
from pmfnas.evaluators.proxies.base import PROXIES, ProxyScore
from pmfnas.evaluators.proxies.compute import (
    NetworkSpec,
    compute_proxies,
    list_proxies,
    proxy_flops,
)

__all__ = ["PROXIES", "NetworkSpec", "ProxyScore", "compute_proxies", "list_proxies", "proxy_flops"]
