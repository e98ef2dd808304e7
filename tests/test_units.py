import pytest

from pmfnas.errors import BudgetError, ConfigError, ParameterError
from pmfnas.units import (
    format_amount,
    parse_budget,
    parse_duration,
    parse_options,
    parse_value,
    plain_int,
)


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


def test_options_stay_text_until_a_strategy_types_them():
    assert parse_options(["population=20", "fidelity=epochs=200", "fidelity2=12"]) == {
        "population": "20",
        "fidelity": "epochs=200",
        "fidelity2": "12",
    }
    with pytest.raises(ConfigError, match=r"is not KEY=VALUE$"):
        parse_options(["population"])
    with pytest.raises(ConfigError, match=r"is not KEY=VALUE \(drop the prefix 'pmf\.'\)"):
        parse_options(["pmf.patience=5"])  # the bench's form, given to one strategy


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("20", int, 20),
        (" -3 ", int, -3),
        ("20", float, 20),  # an integer stays one, as the command line always gave it
        ("0.5", float, 0.5),
        ("1e-3", float, 1e-3),
        ("1.", float, 1.0),
        (".5", float, 0.5),
        ("True", bool, True),
        ("no", bool, False),
        ("epochs=12", str, "epochs=12"),
    ],
)
def test_typed_values(text, kind, value):
    parsed = parse_value(text, kind, "x")
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("abc", int, "population must be an integer, got 'abc'"),
        ("2.5", int, "population must be an integer, got '2.5'"),
        ("²", int, "population must be an integer, got '²'"),
        ("fast", float, "population must be a number, got 'fast'"),
        ("inf", float, "population must be a number, got 'inf'"),
        ("maybe", bool, "population must be true or false, got 'maybe'"),
    ],
)
def test_bad_typed_values_name_the_parameter(text, kind, message):
    with pytest.raises(ParameterError) as error:
        parse_value(text, kind, "population")
    assert str(error.value) == message


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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("6111", 6111),
        ("007", 7),
        ("²", None),
        ("٣", None),
        ("-1", None),
        ("1.5", None),
        ("", None),
        ("0" * 30 + "5", 5),
    ],
)
def test_plain_int_takes_ascii_digits_only(text, value):
    assert plain_int(text) == value


def test_plain_int_refuses_a_number_of_thousands_of_digits():
    with pytest.raises(ConfigError, match=r"\(5000 digits\) is out of range"):
        plain_int("9" * 5000)
