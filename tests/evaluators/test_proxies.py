"""Zero-cost proxies on tiny networks: hand-computed values, invariants and error handling.

Hand computations use NumPy or an independent torch route (closed-form gradients, the functional
Hessian), never the proxy code itself.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pmfnas.errors import ConfigError, RegistryError
from pmfnas.evaluators.proxies import compute_proxies, list_proxies
from pmfnas.spaces.counting import count_flops, count_parameters
from pmfnas.spaces.nb201.network import NB201Network

ALL = [
    "fisher",
    "flops",
    "grad_norm",
    "grasp",
    "jacov",
    "meco",
    "mfnas_mean",
    "mfnas_sum",
    "nwot",
    "params",
    "snip",
    "synflow",
    "zen",
    "zico",
]
SMALL = {"channels": 4, "cells_per_stage": 1}
MIXED = (4, 2, 1, 3, 0, 3)  # a cell with every op


def batch(n: int = 8, size: int = 16, seed: int = 0, classes: int = 10, shape=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*(shape or (n, 3, size, size)), generator=g)
    return x, torch.randint(0, classes, (x.shape[0],), generator=g)


def seeded(factory, seed: int = 0) -> nn.Module:
    """The network compute_proxies builds for ``seed``: torch seeded, then the factory."""
    torch.manual_seed(seed)
    return factory()


def scores(network, names, x, y, **kwargs) -> dict[str, float]:
    return {k: v.score for k, v in compute_proxies(network, names, x, y, **kwargs).items()}


# ---------------------------------------------------------------- registry, errors, every proxy


def test_registry_lists_every_proxy_and_rejects_unknown_names() -> None:
    assert list_proxies() == ALL
    x, y = batch()
    with pytest.raises(RegistryError, match="unknown proxy 'naswot'"):
        compute_proxies(MIXED, ["nwot", "naswot"], x, y, **SMALL)


def test_charged_seconds_add_up_within_the_call_and_rng_is_left_alone() -> None:
    x, y = batch()
    torch.manual_seed(7)
    expected_draw = torch.rand(3)
    torch.manual_seed(7)
    start = time.perf_counter()
    result = compute_proxies(MIXED, ["nwot", "snip", "mfnas_sum", "synflow"], x, y, **SMALL)
    wall = time.perf_counter() - start
    assert torch.equal(torch.rand(3), expected_draw)
    assert 0 < sum(r.seconds for r in result.values()) <= wall


@pytest.mark.parametrize("cell", [MIXED, (0,) * 6, (1,) * 6, (4,) * 6])
def test_every_proxy_is_finite(cell) -> None:
    x, y = batch()
    result = compute_proxies(cell, ALL, x, y, **SMALL)
    assert sorted(result) == ALL
    assert all(math.isfinite(r.score) and r.seconds >= 0 for r in result.values()), result


def test_same_seed_same_scores_and_shared_passes_change_nothing() -> None:
    x, y = batch()
    x2, y2 = batch(seed=1)
    together = scores(MIXED, ALL, x, y, inputs2=x2, targets2=y2, seed=3, **SMALL)
    assert scores(MIXED, ALL, x, y, inputs2=x2, targets2=y2, seed=3, **SMALL) == together
    for name in ALL:
        alone = scores(MIXED, [name], x, y, inputs2=x2, targets2=y2, seed=3, **SMALL)[name]
        assert alone == pytest.approx(together[name], rel=1e-5, abs=1e-8), name
    other_seed = scores(MIXED, ["grad_norm", "zen"], x, y, seed=4, **SMALL)
    assert other_seed["grad_norm"] != together["grad_norm"]
    assert other_seed["zen"] != together["zen"]


def test_bad_input_is_a_config_error() -> None:
    x, y = batch()
    with pytest.raises(ConfigError, match="num_classes"):
        compute_proxies(MIXED, ["snip"], x, y + 5, num_classes=5, **SMALL)
    with pytest.raises(ConfigError, match="together"):
        compute_proxies(MIXED, ["zico"], x, y, inputs2=x, **SMALL)
    with pytest.raises(ConfigError, match="unknown network arguments"):
        compute_proxies(MIXED, ["params"], x, y, width=4)
    with pytest.raises(ConfigError, match="factory"):
        compute_proxies(lambda: nn.Linear(2, 2), ["params"], x, y, channels=4)
    with pytest.raises(ConfigError, match="integers"):
        compute_proxies(MIXED, ["snip"], x, y.float(), **SMALL)
    with pytest.raises(ConfigError, match="pooling"):
        compute_proxies(lambda: nn.Sequential(nn.Flatten(), nn.Linear(768, 10)), ["zen"], x, y)


# ---------------------------------------------------------------- size


def test_params_and_flops_equal_the_builders_counts() -> None:
    x, y = batch(size=16)
    kwargs = {"channels": 8, "cells_per_stage": 1, "num_classes": 5}
    got = scores(MIXED, ["params", "flops"], x, y % 5, **kwargs)
    net = NB201Network(MIXED, **kwargs)
    assert got["params"] == count_parameters(net) / 1e6
    assert got["flops"] == pytest.approx(count_flops(net, 16), rel=1e-9)
    factory = lambda: NB201Network(MIXED, **kwargs)  # noqa: E731
    assert scores(factory, ["params", "flops"], x, y % 5) == pytest.approx(got, rel=1e-9)


def test_size_and_synflow_rank_a_conv_cell_above_a_skip_cell() -> None:
    x, y = batch()
    conv = scores((3,) * 6, ["params", "flops", "synflow", "nwot"], x, y, **SMALL)
    skip = scores((1,) * 6, ["params", "flops", "synflow", "nwot"], x, y, **SMALL)
    empty = scores((0,) * 6, ["synflow", "nwot"], x, y, **SMALL)
    assert conv["params"] > skip["params"] and conv["flops"] > skip["flops"]
    assert conv["synflow"] > skip["synflow"] > empty["synflow"] == 0.0
    assert conv["nwot"] > empty["nwot"]


# ---------------------------------------------------------------- synflow and zen


def test_synflow_is_data_independent_and_matches_the_path_sum() -> None:
    def factory() -> nn.Module:
        net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.BatchNorm1d(4), nn.ReLU())
        net.append(nn.Linear(4, 2))
        nn.init.constant_(net[1].weight, 5.0)  # removed for SynFlow, so it must not matter
        return net

    x, y = batch(shape=(6, 3), classes=2)
    x2, y2 = batch(shape=(6, 3), classes=2, seed=9)
    net = seeded(factory)
    w1, w2 = net[0].weight.detach().abs().double(), net[3].weight.detach().abs().double()
    paths = float((w2 @ w1).sum())  # R minus the bias; each layer's Σθ·∂R/∂θ equals it
    got = scores(factory, ["synflow"], x, y)["synflow"]
    assert got == pytest.approx(math.log1p(2 * paths), rel=1e-12)
    assert scores(factory, ["synflow"], 3 * x2, y2)["synflow"] == got


def test_synflow_survives_float64_overflow() -> None:
    def factory() -> nn.Module:
        layers = [nn.Linear(1, 1, bias=False) for _ in range(40)]
        for layer in layers:
            nn.init.constant_(layer.weight, -1e10)
        return nn.Sequential(*layers)

    x, y = batch(shape=(4, 1), classes=1)
    # R = 1e400 and each of the 40 layers contributes θ·∂R/∂θ = R.
    expected = math.log(40) + 400 * math.log(10)
    assert scores(factory, ["synflow"], x, y)["synflow"] == pytest.approx(expected, rel=1e-12)


def test_zen_ignores_the_batch_values_but_not_the_seed() -> None:
    x, y = batch()
    x2, y2 = batch(seed=5)
    first = scores(MIXED, ["zen"], x, y, **SMALL)["zen"]
    assert scores(MIXED, ["zen"], x2 * 7, y2, **SMALL)["zen"] == first
    assert scores(MIXED, ["zen"], x, y, seed=1, **SMALL)["zen"] != first


# ---------------------------------------------------------------- gradient saliencies


def _softmax_regression() -> nn.Module:
    return nn.Linear(5, 3)


def test_grad_norm_snip_fisher_match_closed_form_softmax_regression() -> None:
    x, y = batch(shape=(7, 5), classes=3)
    net = seeded(_softmax_regression)
    w, b = net.weight.detach().double().numpy(), net.bias.detach().double().numpy()
    xs, onehot = x.double().numpy(), np.eye(3)[y.numpy()]
    z = xs @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - onehot) / len(xs)  # ∂ mean CE / ∂ logits
    grad_w = dz.T @ xs
    got = scores(_softmax_regression, ["grad_norm", "snip", "fisher"], x, y)
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(grad_w), rel=1e-5)
    assert got["snip"] == pytest.approx(np.abs(w * grad_w).sum(), rel=1e-5)
    # NASLib counts each output unit's Fisher value once per weight of that unit (5 inputs).
    assert got["fisher"] == pytest.approx(5 * (0.5 * ((z * dz) ** 2).mean(0)).sum(), rel=1e-4)


def test_fisher_weighs_each_conv_channel_by_its_weights() -> None:
    def factory() -> nn.Module:
        conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        return nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten())

    x, y = batch(shape=(5, 2, 4, 4), classes=3)
    net = seeded(factory)
    act = net[0](x)
    act.retain_grad()
    F.cross_entropy(net[2](net[1](act)), y).backward()
    per_channel = (act.detach() * act.grad).sum(dim=(2, 3)).double()  # (N, 3)
    expected = 2 * 3 * 3 * float(0.5 * per_channel.pow(2).mean(0).sum())
    assert scores(factory, ["fisher"], x, y)["fisher"] == pytest.approx(expected, rel=1e-5)


def test_grasp_matches_the_functional_hessian() -> None:
    def factory() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))

    x, y = batch(shape=(6, 4), classes=2)
    net = seeded(factory)
    w1, w2 = net[0].weight.detach(), net[2].weight.detach()
    b1, b2 = net[0].bias.detach(), net[2].bias.detach()

    def loss(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(torch.tanh(x @ a.T + b1) @ c.T + b2, y)

    a, c = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    g = torch.autograd.grad(loss(a, c), (a, c))
    hess = torch.autograd.functional.hessian(loss, (w1, w2))
    hg = [
        sum(torch.tensordot(hess[i][j], g[j], dims=g[j].dim()) for j in range(2)) for i in range(2)
    ]
    expected = float(-(w1 * hg[0]).sum() - (w2 * hg[1]).sum())
    assert scores(factory, ["grasp"], x, y)["grasp"] == pytest.approx(expected, rel=1e-4)


# ---------------------------------------------------------------- activations


class _TwoReLUsOnOneInput(nn.Module):
    """Two ReLU modules reading the same tensor, as NB201 edges leaving one node do."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


def test_nwot_is_log_det_of_hamming_agreements_and_ignores_labels() -> None:
    x, y = batch(shape=(5, 6), classes=6)
    codes = (x.numpy() > 0).astype(int)
    agree = (codes[:, None, :] == codes[None, :, :]).sum(-1)  # N_A − Hamming distance
    _, expected = np.linalg.slogdet(2 * agree + np.eye(5))  # two ReLUs, unit ridge
    got = scores(_TwoReLUsOnOneInput, ["nwot"], x, y)["nwot"]
    assert got == pytest.approx(expected, rel=1e-12)
    assert scores(_TwoReLUsOnOneInput, ["nwot"], x, y.flip(0))["nwot"] == got
    xs, ys = batch()
    cell = scores(MIXED, ["nwot"], xs, ys, **SMALL)["nwot"]
    assert scores(MIXED, ["nwot"], xs, ys[torch.randperm(8)], **SMALL)["nwot"] == cell
    assert scores(MIXED, ["nwot"], xs, (ys + 3) % 10, **SMALL)["nwot"] == cell


def test_jacov_matches_mellors_formula_on_a_relu_network() -> None:
    def factory() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 16, bias=False), nn.ReLU(), nn.Linear(16, 3, bias=False))

    x, y = batch(shape=(5, 4), classes=3)
    net = seeded(factory)
    w1, w2 = net[0].weight.detach().double().numpy(), net[2].weight.detach().double().numpy()
    active = (x.double().numpy() @ w1.T > 0).astype(float)  # (N, 16)
    jac = (active * w2.sum(0)) @ w1  # ∂ Σ outputs / ∂ x, one row per sample
    assert (jac.std(axis=1) > 0).all()  # every correlation is defined
    eig = np.linalg.eigvalsh(np.corrcoef(jac))
    expected = -np.sum(np.log(eig + 1e-5) + 1 / (eig + 1e-5))
    assert scores(factory, ["jacov"], x, y)["jacov"] == pytest.approx(expected, rel=1e-6)


def test_meco_sums_min_eigenvalues_of_channel_correlations() -> None:
    def factory() -> nn.Module:
        return nn.Sequential(nn.Conv2d(2, 3, 1, bias=False))

    x, y = batch(shape=(4, 2, 5, 5), classes=1)
    net = seeded(factory)
    weight = net[0].weight.detach().double().numpy()[:, :, 0, 0]
    fmap = weight @ x[0].double().numpy().reshape(2, -1)  # first sample, 3 channels × 25
    lowest = np.linalg.eigvalsh(np.corrcoef(fmap)).min()
    # Both the Sequential and its convolution output this feature map.
    assert scores(factory, ["meco"], x, y)["meco"] == pytest.approx(2 * lowest, abs=1e-9)


# ---------------------------------------------------------------- ZiCo and MFNAS


def _conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(4, 4, 1, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def _layer_grads(x: torch.Tensor, y: torch.Tensor) -> list[np.ndarray]:
    net = seeded(_conv_net)
    weights = [net[0].weight, net[2].weight, net[5].weight]
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    return [g.double().numpy().ravel() for g in grads]


def test_zico_and_mfnas_follow_their_written_rules() -> None:
    x1, y1 = batch(shape=(6, 2, 6, 6), classes=3)
    x2, y2 = batch(shape=(6, 2, 6, 6), classes=3, seed=2)
    g1, g2 = _layer_grads(x1, y1), _layer_grads(x2, y2)

    zico = 0.0
    for a, b in zip(g1, g2, strict=True):
        mean_abs, std = (np.abs(a) + np.abs(b)) / 2, np.abs(a - b) / 2
        zico += np.log((mean_abs[std > 0] / std[std > 0]).sum())

    convs = [(a, b) for a, b in zip(g1[:2], g2[:2], strict=True)]  # no NB201 cells: every conv
    bands = [np.floor(2 * np.log10((np.abs(a) + np.abs(b)) / 2)) for a, b in convs]
    values, counts = np.unique(np.concatenate(bands), return_counts=True)
    dominant = values[counts == counts.max()].max()
    total, mean = 0.0, 0.0
    for (a, b), band in zip(convs, bands, strict=True):
        keep = band == dominant
        ratio = np.abs(a + b)[keep] / (np.abs(a - b)[keep] + 1e-12)
        total += np.log1p(ratio.sum())
        mean += np.log1p(ratio.mean()) if keep.any() else 0.0

    got = scores(_conv_net, ["zico", "mfnas_sum", "mfnas_mean"], x1, y1, inputs2=x2, targets2=y2)
    assert got["zico"] == pytest.approx(zico, rel=1e-6)
    assert got["mfnas_sum"] == pytest.approx(total, rel=1e-6)
    assert got["mfnas_mean"] == pytest.approx(mean, rel=1e-6)


def test_two_batch_proxies_use_the_halves_without_a_second_batch() -> None:
    x, y = batch(n=12)
    names = ["zico", "mfnas_sum", "mfnas_mean"]
    halves = scores(MIXED, names, x, y, **SMALL)
    explicit = scores(MIXED, names, x[:6], y[:6], inputs2=x[6:], targets2=y[6:], **SMALL)
    assert halves == pytest.approx(explicit, rel=1e-6)


def test_mfnas_counts_only_cell_convolutions_that_reach_the_output() -> None:
    x, y = batch()
    # Nodes 1 and 2 feed nothing (edges into node 3 from them are `none`): their convolutions
    # get no gradient, so no weight is counted.
    dead = (2, 3, 3, 4, 0, 0)
    assert scores(dead, ["mfnas_sum", "mfnas_mean"], x, y, **SMALL) == {
        "mfnas_sum": 0.0,
        "mfnas_mean": 0.0,
    }
    assert scores((0,) * 6, ["mfnas_sum"], x, y, **SMALL)["mfnas_sum"] == 0.0
    assert scores((3,) * 6, ["mfnas_sum"], x, y, **SMALL)["mfnas_sum"] > 0.0
