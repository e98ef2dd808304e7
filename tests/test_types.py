import pytest

from pmfnas.errors import BudgetError, FidelityError
from pmfnas.types import Budget, Fidelity


@pytest.mark.parametrize("text", ["epochs=12", "epochs=200", "proxy:zen", "proxy:nwot,synflow"])
def test_fidelity_round_trip(text):
    assert str(Fidelity.parse(text)) == text


@pytest.mark.parametrize(
    "text", ["", "epochs=0", "epochs=-1", "epochs=1.5", "proxy:", "12", "proxy:a;b"]
)
def test_bad_fidelities(text):
    with pytest.raises(FidelityError):
        Fidelity.parse(text)


def test_fidelities_order_cheap_to_expensive():
    order = [Fidelity.parse(t) for t in ("epochs=200", "proxy:zen", "epochs=12")]
    assert [str(f) for f in sorted(order)] == ["proxy:zen", "epochs=12", "epochs=200"]


def test_budget():
    budget = Budget(100.0)
    assert budget.fits(100.0) and not budget.fits(100.5)
    budget.spend(60.0)
    assert budget.remaining == 40.0
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(BudgetError):
            Budget(bad)
