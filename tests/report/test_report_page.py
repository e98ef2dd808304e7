"""The study report as a reader meets it: a small page for a large study with every trial in a CSV
beside it, predictions plotted like with like, figures whose legends, ticks and edges hide
nothing, parameters as a table, and a page for a space pmfnas cannot draw or size."""

import csv
import json
import re

from matplotlib.collections import PathCollection

from pmfnas.report.figures import anytime_figure, pareto_figure, predictions_figure
from pmfnas.report.funnel import funnel, funnel_figure
from pmfnas.report.reasons import Prediction, PredictionPair, prediction, prediction_pairs
from pmfnas.report.study_data import study_data
from pmfnas.report.study_report import write_report
from pmfnas.report.trials import CSV, PAGE_ROWS, page_trials
from pmfnas.runs.stored import rounded
from pmfnas.spaces.choices import ChoiceOperators
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.types import Fidelity, Trial, TrialState

SPACE = NB201Space()
PROXY, E12, E200 = Fidelity(proxies=("zen",)), Fidelity(epochs=12), Fidelity(epochs=200)
PAGE_BOUND = 2_000_000
"""Bytes a report page may take at most, whatever the number of trials (issue 15, item 6)."""
DIGITS_TRAINING = {
    "evaluator": "training",
    "data": "digits",
    "recipe": json.dumps({"channels": 4, "cells_per_stage": 1}),
    "budget_unit": "flops",
}
"""The config of a real-training study on the digits, whose networks the report can size."""


def run(toy, plan, info=None):
    """The trials of ``plan`` ((cell index, fidelity) pairs) as a study would store them: the toy
    evaluator's results, the test accuracy in the info, the clock summing the costs."""
    trials, clock = [], 0.0
    for number, (index, fidelity) in enumerate(plan):
        arch = SPACE.arch(index)
        result = toy.evaluate(arch, fidelity)
        clock += result.cost
        extra = (info or {}).get(number, {})
        trials.append(
            Trial(number, arch, fidelity, TrialState.COMPLETE, result.metrics, result.cost, clock,
                  reason=f"planned {fidelity}", info={"origin": "sampled", **result.private, **extra})
        )  # fmt: skip
    return trials


def data_of(trials, evaluator=None, params=None, space=SPACE):
    config = {"strategy": "random", "seed": 0, "params": params or {}, "space": space.name,
              "evaluator": evaluator or {"benchmark": "toy"}}  # fmt: skip
    return study_data("runs.db", "toy", config, space, trials)


# ---------------------------------------------------------------- a large study


def test_a_large_study_makes_a_small_page_and_a_complete_csv(toy_evaluator, tmp_path):
    """Every NB201 cell scored by a proxy, the 150 best trained briefly, 5 fully: the page lists
    the returned trial, every training and the best-scored proxy trials; the CSV every trial."""
    toy = toy_evaluator()
    ranked = sorted(range(SPACE.size), key=lambda i: -toy.evaluate(SPACE.arch(i), E12).val_acc)
    plan = [(i, PROXY) for i in range(SPACE.size)] + [(i, E12) for i in ranked[:150]]
    plan += [(i, E200) for i in ranked[:5]]
    trials = run(toy, plan)
    data = data_of(trials)
    write_report(data, tmp_path)

    page = tmp_path / "report.html"
    assert page.stat().st_size < PAGE_BOUND
    html = page.read_text(encoding="utf-8")
    rows = html.rsplit("<tbody>", 1)[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == PAGE_ROWS
    listed = [int(re.search(r'data-sort="(\d+)"', row).group(1)) for row in rows]
    assert listed == sorted(listed)  # in the order they ran
    trained = [t.number for t in trials if not t.fidelity.is_proxy]
    assert set(trained) <= set(listed) and data.best.number in listed
    proxies = [t for t in trials if t.fidelity.is_proxy]
    lowest_listed = min(t.metrics["zen"] for t in proxies if t.number in listed)
    assert all(t.metrics["zen"] <= lowest_listed for t in proxies if t.number not in listed)
    assert f'<a href="{CSV}">{CSV}</a>' in html

    with (tmp_path / CSV).open(newline="", encoding="utf-8") as file:
        table = list(csv.DictReader(file))
    assert len(table) == len(trials)
    for row, t in zip(table, trials, strict=True):
        assert int(row["number"]) == t.number and SPACE.parse(row["arch"]) == t.arch
        assert Fidelity.parse(row["fidelity"]) == t.fidelity and row["state"] == t.state.value
        assert float(row["cost"]) == rounded(t.cost) and float(row["clock"]) == rounded(t.clock)
        assert float(row["test_acc"]) == t.info["test_acc"] and row["reason"] == t.reason
        for name in ("zen", "val_acc"):
            expected = "" if name not in t.metrics else repr(rounded(t.metrics[name]))
            assert row[f"metrics.{name}"] == expected


def test_the_page_lists_every_trial_of_a_study_that_fits(toy_evaluator, tmp_path):
    trials = run(toy_evaluator(), [(i, E12) for i in range(40)])
    data = data_of(trials)
    assert page_trials(data) == trials
    shown = page_trials(data, limit=10)
    assert len(shown) == 10 and shown == sorted(shown, key=lambda t: t.number)
    rest = [t for t in trials if t not in shown]
    assert min(t.val_acc for t in shown) >= max(t.val_acc for t in rest)


# ---------------------------------------------------------------- predictions


def test_predictions_are_plotted_against_the_fidelity_they_predict(toy_evaluator):
    """PMF's first promotion carries its 12-epoch accuracy over as its "prediction" (there is no
    200-epoch result to learn from yet): a stand-in, left out, not a point far off y = x."""
    toy = toy_evaluator()
    a, b = SPACE.arch(100), SPACE.arch(200)
    medium_a = toy.evaluate(a, E12).val_acc
    surrogate = {"predicted_by": "medium surrogate", "predicted_std": 1.0}
    promotion = {"predicted_by": "promotion predictor", "predicted_std": 0.5}
    info = {
        0: surrogate | {"predicted": medium_a + 2.0},
        1: surrogate | {"predicted": 60.0},
        2: promotion | {"predicted": medium_a},  # the stand-in
        3: promotion | {"predicted": 72.5},
    }
    trials = run(toy, [(100, E12), (200, E12), (100, E200), (200, E200)], info)
    pairs, stand_ins = prediction_pairs(trials)
    assert stand_ins == [trials[2]]
    assert [(p.prediction.source, p.fidelity, p.measured) for p in pairs] == [
        ("medium surrogate", E12, trials[0].val_acc),
        ("medium surrogate", E12, trials[1].val_acc),
        ("promotion predictor", E200, trials[3].val_acc),
    ]
    assert trials[3].val_acc == toy.evaluate(b, E200).val_acc
    labels = predictions_figure(pairs).axes[0].get_legend_handles_labels()[1]
    assert "medium surrogate, epochs=12 (n=2)" in labels
    assert "promotion predictor, epochs=200 (n=1)" in labels


def test_a_prediction_equal_to_another_architectures_accuracy_is_kept(toy_evaluator):
    toy = toy_evaluator()
    other = toy.evaluate(SPACE.arch(7), E12).val_acc
    info = {1: {"predicted": other, "predicted_by": "promotion predictor"}}
    trials = run(toy, [(7, E12), (8, E200)], info)
    pairs, stand_ins = prediction_pairs(trials)
    assert stand_ins == [] and pairs == [
        PredictionPair(prediction(trials[1]), E200, trials[1].val_acc)
    ]


# ---------------------------------------------------------------- figures


def small_study(toy):
    """A few proxies, trainings and full trainings, the first training cheap next to the rest
    (its marker sits at the very start of the cost axis)."""
    plan = [(5, E12)] + [(i, PROXY) for i in range(20, 40)] + [(i, E12) for i in range(20, 30)]
    plan += [(i, E200) for i in range(20, 50)]
    return data_of(run(toy, plan), evaluator=DIGITS_TRAINING)


def markers_outside(fig):
    """Markers of ``fig`` drawn partly outside their axes (cut at its edge), as (x, y) pixels."""
    fig.canvas.draw()
    pixels = fig.dpi / 72  # per point
    cut = []
    for ax in fig.axes:
        marked = [  # (data points, marker radius in pixels)
            (c.get_offsets(), max(c.get_sizes()) ** 0.5 / 2 * pixels)
            for c in ax.collections
            if isinstance(c, PathCollection)  # scatter points
        ]
        for line in ax.get_lines():
            if line.get_marker() not in ("None", "", " ", None):
                every = line.get_markevery()
                xy = line.get_xydata() if every is None else line.get_xydata()[every]
                marked.append((xy, line.get_markersize() / 2 * pixels))
        box = ax.get_window_extent()
        for xy, r in marked:
            for x, y in ax.transData.transform(xy):
                if not (
                    box.x0 <= x - r and x + r <= box.x1 and box.y0 <= y - r and y + r <= box.y1
                ):
                    cut.append((x, y))
    return cut


def legends_over_axes(fig):
    """(legend, axes) pairs where a legend covers part of a plot."""
    fig.canvas.draw()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends
    return [
        (legend, ax)
        for legend in legends
        for ax in fig.axes
        if legend.get_window_extent().overlaps(ax.get_window_extent())
    ]


def test_no_legend_covers_a_plot_and_no_marker_is_cut_at_an_edge(toy_evaluator):
    data = small_study(toy_evaluator())
    pairs = [PredictionPair(Prediction("model", p, 1.0), E12, m) for p, m in ((80, 82), (90, 88))]
    figures = {
        "anytime": anytime_figure(data),
        "pareto": pareto_figure(data),
        "predictions": predictions_figure(pairs),
        "funnel": funnel_figure(funnel(data.trials), "funnel"),
    }
    for name, fig in figures.items():
        assert fig is not None, name
        assert legends_over_axes(fig) == [], name
        assert markers_outside(fig) == [], name


def test_a_small_funnel_counts_in_whole_architectures(toy_evaluator):
    trials = run(
        toy_evaluator(), [(1, PROXY), (2, PROXY), (3, PROXY), (1, E12), (2, E12), (1, E200)]
    )
    fig = funnel_figure(funnel(trials), "small")
    counts = fig.axes[0]
    low, high = counts.get_xlim()
    ticks = [x for x in counts.get_xticks() if low <= x <= high]
    assert len(ticks) >= 2 and all(float(x).is_integer() for x in ticks)


# ---------------------------------------------------------------- the page


def test_parameters_are_a_table_and_architectures_break_only_between_tokens(
    toy_evaluator, tmp_path
):
    params = {"population": 4, "fidelity": "epochs=12", "budget": None, "share": 0.001}
    data = data_of(run(toy_evaluator(), [(i, E12) for i in range(5)]), params=params)
    html = write_report(data, tmp_path).read_text(encoding="utf-8")
    table = html.split("<h2>Strategy parameters</h2>")[1].split("</table>")[0]
    cells = re.findall(r'<td class="text" data-sort="[^"]*">([^<]*)</td>', table)
    assert cells == ["budget", "null", "fidelity", "epochs=12", "population", "4", "share", "0.001"]
    assert "population" not in html.split("<h2>")[0]  # no JSON blob among the facts
    # NB201 strings break at their '|' only: a cell must not allow breaks inside "nor_conv_3x3"
    assert "anywhere" not in html and "break-all" not in html


class Unbuildable(ChoiceOperators):
    """A space of one's own that cannot build its networks (nor be drawn)."""

    name = "unbuildable"
    positions, options = 2, 3

    def format(self, arch):
        return "-".join(map(str, arch))

    def network(self, arch, **sizes):
        raise NotImplementedError("no networks here")


def test_a_space_that_fails_to_build_its_networks_still_gets_its_page(tmp_path):
    space = Unbuildable()
    trials = [Trial(n, (n % 3, 1), E12, TrialState.COMPLETE, {"val_acc": 50.0 + n}, 1.0, n + 1.0)
              for n in range(4)]  # fmt: skip
    data = data_of(trials, evaluator=DIGITS_TRAINING, space=space)
    html = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert "sizing the unbuildable networks failed (NotImplementedError: no networks here)" in html
    assert "0-1 (pmfnas draws only NB201 cells as graphs)" in html  # the returned one, as text
    assert {p.name for p in tmp_path.glob("*.png")} == {"anytime.png", "funnel.png"}
