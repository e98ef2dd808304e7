"""Compute several zero-cost proxies of one network in as few passes as possible.

Plan: every proxy declares the shared features it reads; each batch that some proxy needs gets
one training-mode pass computing all features asked of it (``passes.run_pass``); then each proxy
scores from those features or does its own work (SynFlow, Zen, GraSP, sizes).

Time charged to a proxy (``ProxyScore.seconds``) = its own scoring time + an equal share of each
pass it reads (the pass time not spent on a single feature, split among the proxies reading that
pass) + an equal share of the time of the features it reads + an equal share of building the
network (split among all requested proxies). The shares add up to the wall time of the call, so
the sum over proxies is what the whole request cost.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from pmfnas.errors import ConfigError
from pmfnas.evaluators.proxies.base import PROXIES, Feature, Proxy, ProxyContext, ProxyScore
from pmfnas.evaluators.proxies.passes import PassFeature, run_pass
from pmfnas.evaluators.work import TRAIN_PASSES
from pmfnas.spaces.nb201 import check
from pmfnas.spaces.nb201.network import NB201Network
from pmfnas.types import Arch

NetworkSpec = Callable[[], nn.Module] | Arch
"""A factory returning a freshly initialised network, or an NB201 cell to build."""

NETWORK_KWARGS = frozenset({"channels", "cells_per_stage", "num_classes"})
"""The ``NB201Network`` arguments that ``compute_proxies`` passes on for a cell."""


def list_proxies() -> list[str]:
    """Names of all registered proxies, sorted."""
    return PROXIES.names()


def compute_proxies(
    network: NetworkSpec,
    names: Sequence[str],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    seed: int = 0,
    inputs2: torch.Tensor | None = None,
    targets2: torch.Tensor | None = None,
    flops: float | None = None,
    **network_kwargs: int,
) -> dict[str, ProxyScore]:
    """Score one network with the proxies ``names`` (higher = predicted better for every one).

    Args:
        network: a factory ``() -> nn.Module`` or an NB201 cell, built with
            ``NB201Network(cell, input_channels=inputs.shape[1], **network_kwargs)``
            (``channels``, ``cells_per_stage``, ``num_classes``).
        names: registered proxy names (:func:`list_proxies`); duplicates are computed once.
        inputs, targets: the batch (N, C, H, W) and its integer labels (N,).
        seed: seeds the network's initialisation (and Zen's Gaussian draws); the same seed and
            batch give the same scores, and the caller's random state is left untouched.
        inputs2, targets2: the second mini-batch of ``zico`` and ``mfnas_*``; without it they
            use the two halves of ``inputs`` (two extra half-size passes).
        flops: the network's forward FLOPs per image in millions where its space counts them
            (the ``flops`` proxy then reports them instead of counting the module).

    Returns:
        name → :class:`ProxyScore` (score and charged wall seconds, see the module docstring).

    Raises:
        RegistryError: an unknown proxy name.
        ConfigError: inconsistent batches, labels beyond the network's outputs, unknown
            network keyword arguments, or a proxy that cannot score this network.
    """
    proxies = [PROXIES.get(name) for name in dict.fromkeys(names)]
    if not proxies:
        raise ConfigError("no proxy requested")
    batches = _batches(proxies, inputs, targets, inputs2, targets2)
    build, cell = _builder(network, seed, inputs, network_kwargs)
    start = time.perf_counter()
    template = build()
    charged: dict[str, float] = dict.fromkeys(
        (p.name for p in proxies), (time.perf_counter() - start) / len(proxies)
    )
    pair_keys = ("batch", "batch2") if "batch2" in batches else ("half1", "half2")
    ctx = ProxyContext(
        build=build,
        template=template,
        inputs=_channels_last(inputs),
        targets=targets,
        seed=seed,
        cell=cell,
        network_kwargs=dict(network_kwargs),
        flops=flops,
        pair_keys=pair_keys,
    )
    _run_passes(ctx, batches, {p.name: _pass_uses(p.needs, pair_keys) for p in proxies}, charged)
    scores = {}
    for proxy in proxies:
        start = time.perf_counter()
        score = proxy.fn(ctx)
        seconds = charged[proxy.name] + time.perf_counter() - start
        if not math.isfinite(score):
            raise RuntimeError(f"proxy {proxy.name} gave a non-finite score {score}")
        scores[proxy.name] = ProxyScore(score=float(score), seconds=seconds)
    return scores


def _run_passes(
    ctx: ProxyContext,
    batches: dict[str, tuple[torch.Tensor, torch.Tensor]],
    uses: dict[str, set[tuple[str, PassFeature]]],
    charged: dict[str, float],
) -> None:
    """One pass per batch that some proxy reads, storing its features in ``ctx.passes``.

    ``uses`` maps each proxy to the (batch key, feature) pairs it reads; each pass's time is added
    to ``charged`` as the module docstring says.
    """
    for key, features in _plan(uses).items():
        x, y = batches[key]
        start = time.perf_counter()
        ctx.passes[key], feature_seconds = run_pass(ctx.network(), _channels_last(x), y, features)
        core = time.perf_counter() - start - sum(feature_seconds.values())
        readers = _readers(uses, key)
        for name in readers:
            charged[name] += core / len(readers)
        for feature, seconds in feature_seconds.items():
            owners = [name for name in readers if (key, feature) in uses[name]]
            for name in owners:
                charged[name] += seconds / len(owners)


def _plan(uses: dict[str, set[tuple[str, PassFeature]]]) -> dict[str, set[PassFeature]]:
    """The features each batch's pass must compute, from what each proxy reads."""
    plan: dict[str, set[PassFeature]] = defaultdict(set)
    for pairs in uses.values():
        for key, feature in pairs:
            plan[key].add(feature)
    return plan


def _readers(uses: dict[str, set[tuple[str, PassFeature]]], key: str) -> list[str]:
    """The proxies that read the pass over batch ``key``."""
    return [name for name, pairs in uses.items() if any(k == key for k, _ in pairs)]


BACKWARD_FEATURES: frozenset[PassFeature] = frozenset({"grads", "fisher", "jacobian"})
"""Pass features that need a backward pass (the others read the forward pass only)."""


def proxy_flops(
    names: Sequence[str], forward: float, batch: int, second_batch: int | None = None
) -> dict[str, float]:
    """The FLOPs charged to each proxy by :func:`compute_proxies`, counted instead of timed.

    ``forward`` is one image's forward pass; the batches are the ones ``compute_proxies`` gets
    (``second_batch``: the size of ``inputs2``, else the pair proxies use two halves). A pass
    over n images costs n forward passes, or :data:`~pmfnas.evaluators.work.TRAIN_PASSES` times
    that with a backward, split among the proxies reading it as the seconds are; each proxy adds
    its own ``work``.
    """
    proxies = [PROXIES.get(name) for name in dict.fromkeys(names)]
    pair_keys = ("batch", "batch2") if second_batch else ("half1", "half2")
    images = {"batch": batch, "batch2": second_batch or 0, "half1": batch // 2}
    images["half2"] = batch - images["half1"]
    uses = {p.name: _pass_uses(p.needs, pair_keys) for p in proxies}
    charged = {p.name: forward * (p.work[0] * batch + p.work[1]) for p in proxies}
    for key, features in _plan(uses).items():
        passes = TRAIN_PASSES if features & BACKWARD_FEATURES else 1.0
        readers = _readers(uses, key)
        for name in readers:
            charged[name] += forward * images[key] * passes / len(readers)
    return charged


def _batches(
    proxies: list[Proxy],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    inputs2: torch.Tensor | None,
    targets2: torch.Tensor | None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The batches the passes run on: ``batch``, plus ``batch2`` or the halves for pair proxies."""
    _check_batch(inputs, targets, "inputs")
    if (inputs2 is None) != (targets2 is None):
        raise ConfigError("give inputs2 and targets2 together")
    batches = {"batch": (inputs, targets)}
    if not any("grad_pair" in p.needs for p in proxies):
        return batches
    if inputs2 is not None and targets2 is not None:
        _check_batch(inputs2, targets2, "inputs2")
        batches["batch2"] = (inputs2, targets2)
        return batches
    half = inputs.shape[0] // 2
    if half < 1:
        raise ConfigError("zico and mfnas need two mini-batches: give inputs2 or 2+ samples")
    batches["half1"] = (inputs[:half], targets[:half])
    batches["half2"] = (inputs[half:], targets[half:])
    return batches


def _check_batch(inputs: torch.Tensor, targets: torch.Tensor, what: str) -> None:
    if not inputs.is_floating_point() or inputs.dim() < 2:
        raise ConfigError(f"{what} must be a float tensor with a batch dimension")
    if targets.shape != (inputs.shape[0],) or targets.is_floating_point():
        raise ConfigError(f"the labels of {what} must be {inputs.shape[0]} integers")


def _builder(
    network: NetworkSpec, seed: int, inputs: torch.Tensor, network_kwargs: dict[str, int]
) -> tuple[Callable[[], nn.Module], Arch | None]:
    """A function building the seeded initial network on the inputs' device; the NB201 cell.

    Rebuilding is faster than ``copy.deepcopy`` of an NB201 network and gives the same weights,
    since torch is seeded before each build (the caller's random state is restored).
    """
    unknown = set(network_kwargs) - NETWORK_KWARGS
    if unknown:
        raise ConfigError(
            f"unknown network arguments {sorted(unknown)} (known: {sorted(NETWORK_KWARGS)}; "
            "input_channels is taken from the inputs)"
        )
    cell = None if callable(network) else check(tuple(network))
    if cell is None and network_kwargs:
        raise ConfigError("network keyword arguments apply to an NB201 cell, not to a factory")

    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if cell is None:
                net = network()
            else:
                net = NB201Network(cell, input_channels=inputs.shape[1], **network_kwargs)
        return net.to(inputs.device, memory_format=torch.channels_last)

    return build, cell


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """Image batches in channels-last order, as the network: faster convolutions on the CPU."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _pass_uses(
    needs: frozenset[Feature], pair_keys: tuple[str, str]
) -> set[tuple[str, PassFeature]]:
    """(batch key, pass feature) pairs a proxy with these ``needs`` reads."""
    uses = set()
    for need in needs:
        if need == "grad_pair":
            uses |= {(pair_keys[0], "grads"), (pair_keys[1], "grads")}
        else:
            uses.add(("batch", need))
    return uses
