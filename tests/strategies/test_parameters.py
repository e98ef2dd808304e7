"""A strategy's parameters are read from the strategy itself and checked by their declared type."""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pmfnas.errors import ConfigError, ParameterError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.strategies import STRATEGIES, BaseStrategy, create_strategy, strategy_from
from pmfnas.strategies.parameters import check_params, parameters, summary
from pmfnas.units import VALUE_KINDS

SPACE = NB201Space()


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_parameter_is_typed_documented_and_stored(name, ladder):
    """What ``pmfnas strategies`` lists is what a study stores: the strategy's ``params()``."""
    cls = STRATEGIES.get(name)
    found = parameters(cls)
    assert summary(cls) and "``" not in summary(cls)
    for p in found:
        assert p.kind in VALUE_KINDS, p.name
        assert p.doc and p.summary and "``" not in p.doc, p.name
    stored = create_strategy(name, SPACE, ladder=ladder).params()
    assert [p.name for p in found] == list(stored)


def test_text_is_parsed_as_the_declared_type(ladder):
    typed = create_strategy("rea", SPACE, ladder=ladder, population=20, sample_size=5)
    texts = create_strategy("rea", SPACE, ladder=ladder, population="20", sample_size="5")
    assert texts.params() == typed.params()
    assert type(texts.params()["population"]) is int
    assert [texts.ask().arch for _ in range(25)] == [typed.ask().arch for _ in range(25)]
    sh = create_strategy("sh", SPACE, ladder=ladder, eta="16", rungs="epochs=12;epochs=200")
    assert sh.params()["eta"] == 16 and sh.params()["rungs"] == "epochs=12;epochs=200"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("rea", {"population": "abc"}, "population must be an integer, got 'abc'"),
        ("rea", {"population": 2.5}, "population must be an integer, got 2.5"),
        ("rea", {"population": True}, "population must be an integer, got True"),
        ("pmf", {"kappa": "high"}, "kappa must be a number, got 'high'"),
        ("random", {"fidelity": 12}, "fidelity must be text, got 12"),
        (
            "rea",
            {"nonsense": 3},
            "rea has no parameter 'nonsense' (known: population, sample_size, fidelity)",
        ),
        ("random", {"seed": 3}, "random has no parameter 'seed' (known: fidelity)"),
        ("rea", {"ladder": None}, "rea has no parameter 'ladder' (known: population, "),
    ],
)
def test_a_bad_parameter_is_one_clear_sentence(name, params, message, ladder):
    with pytest.raises(ParameterError) as error:
        strategy_from(name, SPACE, params, ladder=ladder)
    assert str(error.value).startswith(message)
    assert isinstance(error.value, ConfigError)  # callers catching ConfigError still do


def test_numpy_numbers_and_none_where_allowed_are_taken(ladder):
    rea = create_strategy("rea", SPACE, ladder=ladder, population=np.int64(4), sample_size=2)
    assert rea.params()["population"] == 4
    pmf = create_strategy("pmf", SPACE, ladder=ladder, kappa=np.float64(0.25), budget=None)
    assert pmf.params()["kappa"] == 0.25 and pmf.params()["budget"] is None


def test_the_evaluators_parameters_come_first_and_the_users_over_them(ladder):
    """An evaluator's ladder may carry parameters its costs call for (NB301's PMF waits less
    before a stall); a user's own parameter still wins."""
    tuned = replace(ladder, params={"rea": {"population": 7, "sample_size": 3}})
    assert create_strategy("rea", SPACE, ladder=tuned).params()["population"] == 7
    given = create_strategy("rea", SPACE, ladder=tuned, population=9).params()
    assert (given["population"], given["sample_size"]) == (9, 3)
    with pytest.raises(ParameterError, match="population must be an integer"):
        create_strategy("rea", SPACE, ladder=replace(ladder, params={"rea": {"population": "x"}}))


class Plain(BaseStrategy):
    """A strategy of one's own, with neither type hints nor an Args section for ``untyped``.

    Args:
        rate, decay: the two numbers of a schedule,
            continued on a deeper line.
        label: its name.
    """

    def __init__(self, space, seed=0, rate=0.5, decay: float = 0.1, untyped=None, *, ladder=None):
        super().__init__(space, seed, ladder=ladder)
        self.rate, self.decay, self.untyped = rate, decay, untyped

    ask = tell = params = None  # never called here


class Labelled(Plain):
    """Adds one parameter.

    Args (besides the plain ones):
        label: the label on its runs.
    """

    def __init__(self, space, seed=0, label: str = "x", *, ladder=None):
        super().__init__(space, seed, ladder=ladder)


Plain.__abstractmethods__ = Labelled.__abstractmethods__ = frozenset()


def test_a_strategy_without_hints_types_its_parameters_by_their_defaults():
    rate, decay, untyped = parameters(Plain)
    assert (rate.kind, decay.kind, untyped.kind) == (float, float, None)
    assert rate.doc == decay.doc == "the two numbers of a schedule, continued on a deeper line."
    assert untyped.doc == "" and untyped.type_name == "any"
    checked = check_params("plain", Plain, {"rate": "0.25", "untyped": "as given"})
    assert checked == {"rate": 0.25, "untyped": "as given"}


def test_a_subclass_inherits_its_bases_parameter_docs_and_overrides_its_own():
    (label,) = parameters(Labelled)
    assert label.doc == "the label on its runs."
    assert summary(Labelled) == "Adds one parameter."


def test_a_required_parameter_must_be_given():
    class Needs(Plain):
        def __init__(self, space, seed=0, *, size: int, ladder=None):
            super().__init__(space, seed, ladder=ladder)

    (size,) = parameters(Needs)
    assert size.required and size.kind is int
    with pytest.raises(ParameterError, match="needs needs parameter 'size'"):
        check_params("needs", Needs, {})


def test_the_parameters_docs_strategies_md_names_are_the_strategies_own():
    """The table of docs/strategies.md is prose beside ``pmfnas strategies``: every parameter
    it names must exist, so that it cannot drift into naming one that does not."""
    page = Path(__file__).parents[2] / "docs" / "strategies.md"
    rows = re.findall(r"^\| `(\w+)`[^|]*\|[^|]*\| (.*) \|$", page.read_text(), re.MULTILINE)
    assert {name for name, _ in rows} == set(STRATEGIES.names())
    for name, cell in rows:
        known = {p.name for p in parameters(STRATEGIES.get(name))}
        named = set(re.findall(r"`([a-z_]+)` \(", cell)) | set(re.findall(r"^`([a-z_]+)`", cell))
        assert named and named <= known, (name, named - known)
