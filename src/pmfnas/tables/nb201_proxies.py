"""Zero-cost proxy scores of all 15,625 NB201 cells, computed by this project, shipped as npz.

The shipped file ``nb201_proxies_cifar10.npz`` was made with

    pmfnas proxies compute --data cifar10 --archs all --channels 8 --cells 1 --batch-size 64 \\
        --seed 0 --proxies nwot,synflow,mfnas_sum,mfnas_mean,meco,jacov,zico

on the shared CIFAR-10 images (two seeded mini-batches of 64, C=8 / N=1 networks, one CPU
thread per process) and exported with ``pmfnas proxies export``
(:func:`pmfnas.runs.proxies.export_proxy_arrays`). It holds, per proxy, ``<name>`` (the
score) and ``<name>_seconds`` (the measured computing time) as float32 arrays in NATS index
order, and a ``settings`` JSON string. The tabular evaluator serves these scores as the proxy
fidelity (their seconds as its simulated cost), so proxy-driven searches run in seconds.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pmfnas.errors import DataError, NotAvailableError

SHIPPED_NAME = "nb201_proxies_cifar10.npz"

ProxyArrays = dict[str, tuple[np.ndarray, np.ndarray]]
"""Proxy name → (scores, seconds), NATS order; NaN where a cell was not computed."""


def shipped_path() -> Path:
    return Path(str(resources.files("pmfnas.tables") / SHIPPED_NAME))


def load_proxy_arrays(path: Path | None = None) -> tuple[ProxyArrays, dict[str, Any]]:
    """The proxy arrays and their settings from ``path`` (default: the shipped file)."""
    path = path or shipped_path()
    if not path.is_file():
        raise NotAvailableError(f"{path}: no NB201 proxy scores (compute them with pmfnas proxies)")
    try:
        with np.load(path) as content:
            settings = json.loads(str(content["settings"]))
            names = [k for k in content.files if k != "settings" and not k.endswith("_seconds")]
            arrays = {
                n: (content[n].astype(np.float64), content[f"{n}_seconds"].astype(np.float64))
                for n in names
            }
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a proxy-score file ({exc})") from None
    return arrays, settings


@functools.cache
def shipped_proxies() -> ProxyArrays:
    """The shipped scores (made on CIFAR-10 images; also served for CIFAR-100 and ImageNet16-120,
    where proxies transfer), loaded once per process; none if the file is absent."""
    try:
        return load_proxy_arrays()[0]
    except NotAvailableError:
        return {}
