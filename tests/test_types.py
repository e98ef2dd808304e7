import numpy as np
import pytest

from pmfnas.errors import BudgetError, ConfigError, FidelityError
from pmfnas.types import MAX_SEED, Budget, Fidelity, check_seed


@pytest.mark.parametrize(
    "text", ["epochs=12", "epochs=200", "proxy:zen", "proxy:nwot,synflow", "supernet=7"]
)
def test_fidelity_round_trip(text):
    assert str(Fidelity.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        *("", "epochs=0", "epochs=-1", "epochs=1.5", "proxy:", "12", "proxy:a;b"),
        *("supernet=0", "supernet=01", "supernet=3,fraction=0.5"),
    ],
)
def test_bad_fidelities(text):
    with pytest.raises(FidelityError):
        Fidelity.parse(text)


def test_fidelities_order_cheap_to_expensive():
    texts = ("epochs=200", "supernet=50", "proxy:zen", "epochs=1", "epochs=12", "supernet=3")
    order = sorted(Fidelity.parse(t) for t in texts)
    assert [str(f) for f in order] == [
        "proxy:zen",
        "supernet=3",
        "supernet=50",
        "epochs=1",
        "epochs=12",
        "epochs=200",
    ]


def test_a_supernet_fidelity_is_its_own_kind():
    fidelity = Fidelity(supernet=4)
    assert fidelity.is_supernet and not fidelity.is_proxy and fidelity.epochs == 0
    assert not Fidelity(epochs=12).extends(fidelity) and not fidelity.extends(Fidelity(epochs=1))
    with pytest.raises(FidelityError):
        Fidelity(supernet=4, epochs=12)
    with pytest.raises(FidelityError):
        Fidelity(supernet=4, resolution=16)


def test_budget():
    budget = Budget(100.0)
    assert budget.fits(100.0) and not budget.fits(100.5)
    budget.spend(60.0)
    assert budget.remaining == 40.0
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(BudgetError):
            Budget(bad)


@pytest.mark.parametrize(
    "text",
    [
        "epochs=5,fraction=0.25",
        "epochs=3,resolution=16,channels=8,cells=1",
        "epochs=1,cells=2",
        "epochs=3,horizon=12",
        "epochs=3,horizon=12,fraction=0.5",
    ],
)
def test_training_knobs_round_trip(text):
    fidelity = Fidelity.parse(text)
    assert str(fidelity) == text and Fidelity.parse(str(fidelity)) == fidelity


@pytest.mark.parametrize(
    "text",
    [
        "epochs=3,channels=8,fraction=0.5",  # out of order
        "epochs=3,fraction=0.5,fraction=0.5",
        "epochs=3,foo=1",
        "epochs=3,fraction=2",
        "epochs=3,fraction=0",
        "epochs=3,cells=0",
        "fraction=0.5",
        "epochs=3,channels=1.5",
        "epochs=12,horizon=3",  # a schedule shorter than its epochs
        "epochs=3,fraction=0.5,horizon=12",  # out of order
        "epochs=3,horizon=0",
    ],
)
def test_bad_training_knobs(text):
    with pytest.raises(FidelityError):
        Fidelity.parse(text)


def test_knobs_make_a_schedule_cheaper_but_not_cheaper_than_fewer_epochs():
    texts = ["epochs=12", "epochs=12,fraction=0.5", "epochs=12,channels=8", "epochs=4", "proxy:a"]
    ranked = [str(f) for f in sorted(Fidelity.parse(t) for t in texts)]
    assert ranked == [
        "proxy:a",
        "epochs=4",
        "epochs=12,fraction=0.5",
        "epochs=12,channels=8",
        "epochs=12",
    ]
    assert max(Fidelity.parse(t) for t in texts) == Fidelity(epochs=12)


def test_proxies_take_no_knobs():
    with pytest.raises(FidelityError):
        Fidelity(proxies=("nwot",), fraction=0.5)


def test_a_horizon_as_long_as_the_epochs_is_the_whole_schedule():
    assert Fidelity(epochs=12, horizon=12) == Fidelity(epochs=12)
    assert str(Fidelity(epochs=12, horizon=12)) == "epochs=12"
    assert Fidelity.parse("epochs=3,horizon=12").schedule == 12


def test_a_longer_training_of_the_same_schedule_extends_a_prefix():
    prefix = Fidelity.parse("epochs=3,horizon=12")
    assert Fidelity(epochs=12).extends(prefix)
    assert Fidelity.parse("epochs=6,horizon=12").extends(prefix)
    assert not prefix.extends(prefix) and not prefix.extends(Fidelity(epochs=12))
    assert not Fidelity(epochs=12).extends(Fidelity(epochs=3))  # its own 3-epoch schedule
    assert not Fidelity(epochs=12).extends(Fidelity.parse("epochs=3,horizon=12,fraction=0.5"))
    assert not Fidelity(epochs=12).extends(Fidelity(proxies=("nwot",)))


@pytest.mark.parametrize("seed", [0, 7, MAX_SEED, np.int64(3)])
def test_seeds(seed):
    assert check_seed(seed) == seed and type(check_seed(seed)) is int


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.0, "3", None])
def test_bad_seeds(seed):
    with pytest.raises(ConfigError, match=r"seed must be an integer in 0\.\.4294967295"):
        check_seed(seed)
