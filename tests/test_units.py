import pytest

from pmfnas.errors import BudgetError, ConfigError
from pmfnas.units import parse_duration, parse_options


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
