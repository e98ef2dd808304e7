import pytest

from pmfnas.errors import BudgetError, ConfigError
from pmfnas.units import format_amount, parse_budget, parse_duration, parse_options


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20000", 20000.0), ("90s", 90.0), ("30m", 1800.0), ("1.5h", 5400.0), ("1e3", 1000.0)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-5", "0", "abc", "10x", "", "inf", "nan"])
def test_bad_durations(text):
    with pytest.raises(BudgetError):
        parse_duration(text)


def test_options():
    assert parse_options(["population=20", "fidelity=epochs=200", "rate=0.5", "flag=true"]) == {
        "population": 20,
        "fidelity": "epochs=200",
        "rate": 0.5,
        "flag": True,
    }
    with pytest.raises(ConfigError):
        parse_options(["population"])


@pytest.mark.parametrize(
    ("text", "amount"),
    [("5e14flops", 5e14), ("500Tflops", 5e14), ("2.5PFLOPs", 2.5e15), ("3 GFLOP", 3e9)],
)
def test_compute_budgets(text, amount):
    assert parse_budget(text) == (pytest.approx(amount), "flops")


@pytest.mark.parametrize("text", ["0flops", "-1Tflops", "5e14 FLOPS/s", "2Xflops", "infflops"])
def test_bad_compute_budgets(text):
    with pytest.raises(BudgetError, match="5e14flops"):
        parse_budget(text)


def test_durations_are_time_budgets():
    assert parse_budget("30m") == (1800.0, "seconds")


def test_amounts_read_in_their_unit():
    assert format_amount(9.54, "wall") == "9.5 s"
    assert format_amount(340.4, "simulated") == "340 s"
    assert format_amount(1.234e13, "flops") == "1.23e+13 FLOPs"
