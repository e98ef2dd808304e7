"""Counted work and learned epoch times of real evaluations."""

import pytest

from pmfnas.evaluators.proxies import proxy_flops
from pmfnas.evaluators.work import TRAIN_PASSES, EpochTimes, epoch_flops
from pmfnas.spaces.nb201 import NB201Space


def test_forward_flops_are_the_official_records(nb201_official_costs):
    for cost in nb201_official_costs:
        flops = NB201Space().forward_flops(
            cost.cell,
            channels=16,
            cells_per_stage=5,
            num_classes=cost.num_classes,
            input_size=cost.input_size,
            input_channels=3,
        )
        assert flops / 1e6 == pytest.approx(cost.flop, abs=1e-5)


def test_an_epoch_trains_every_image_and_validates_once():
    assert epoch_flops(2.0, 100, 10) == 2.0 * (TRAIN_PASSES * 100 + 10)


def test_shared_passes_are_split_and_own_work_added():
    forward = 1.0
    meco, synflow = proxy_flops(["meco", "synflow"], forward, batch=64).values()
    assert meco == 64  # meco reads one forward-only pass over the batch
    assert synflow == 3  # synflow: one image, forward and backward
    both = proxy_flops(["grad_norm", "snip"], forward, batch=64)
    assert both == {"grad_norm": 96.0, "snip": 96.0}  # one training pass, shared by two
    pair = proxy_flops(["zico"], forward, batch=64, second_batch=32)
    assert pair == {"zico": TRAIN_PASSES * (64 + 32)}


def test_epoch_times_scale_one_network_by_flops_and_fit_a_line_through_two():
    times = EpochTimes()
    assert times.predict("s", 10.0) is None
    times.add_probe("s", 10.0, 4.0)
    assert times.predict("s", 20.0) == pytest.approx(8.0)  # the probe, until an epoch is seen
    times.add("s", 10.0, 2.0)
    assert times.predict("s", 20.0) == pytest.approx(4.0)  # measured beats probed
    times.add("s", 30.0, 3.0)  # overhead 1.5 s + 0.05 s per FLOP
    assert times.predict("s", 20.0) == pytest.approx(2.5)
    assert times.predict("other", 20.0) is None
