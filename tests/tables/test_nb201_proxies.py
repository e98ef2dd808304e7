"""The shipped full-space proxy scores: complete, as documented, and as good as published."""

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from pmfnas.errors import DataError, NotAvailableError
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.runs.proxies import export_proxy_arrays
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.tables.nb201_proxies import load_proxy_arrays, shipped_path
from pmfnas.types import Fidelity

SHIPPED = ("nwot", "synflow", "mfnas_sum", "mfnas_mean", "meco", "zico")


@pytest.fixture(scope="module")
def shipped():
    return load_proxy_arrays()


def test_every_cell_has_every_proxy_and_a_time(shipped):
    arrays, settings = shipped
    assert set(SHIPPED) <= set(arrays)
    for scores, seconds in arrays.values():
        assert scores.shape == seconds.shape == (15_625,)
        assert np.isfinite(scores).all() and (seconds > 0).all()
    assert settings == {
        "space": "nb201", "data": "cifar10", "batch_size": 64, "channels": 8,
        "cells_per_stage": 1, "seed": 0,
    }  # fmt: skip


def test_rank_quality_matches_the_published_figures(shipped, bench):
    # NAS-Bench-Suite-Zero reports Spearman ρ ≈ 0.80 (nwot) and 0.78 (synflow) against CIFAR-10
    # test accuracy; MeCo's authors 0.89. A reduced network may differ a little, not a lot.
    arrays, _ = shipped
    accuracy = bench.array("test_acc_200", "cifar10")
    for name, published in (("nwot", 0.80), ("synflow", 0.78), ("meco", 0.89)):
        rho = spearmanr(arrays[name][0], accuracy).statistic
        assert abs(rho - published) < 0.06, (name, rho)


def test_the_tabular_evaluator_serves_them(shipped, bench):
    evaluator = TabularEvaluator(bench, "cifar10", proxies=shipped[0])
    result = evaluator.evaluate(NB201Space().arch(6111), Fidelity(proxies=("nwot", "meco")))
    assert result.metrics["nwot"] == pytest.approx(shipped[0]["nwot"][0][6111])
    assert result.cost == pytest.approx(shipped[0]["nwot"][1][6111] + shipped[0]["meco"][1][6111])


class FilledTable:
    """What :func:`export_proxy_arrays` reads of a proxy table: proxy 'a' for every cell, 'b' for none."""

    settings = {"seed": 0}  # noqa: RUF012
    path = Path("filled.db")

    def arrays(self, proxy, size):
        scores = np.arange(size, dtype=float) if proxy == "a" else np.full(size, np.nan)
        return scores, np.full(size, 0.5)


def test_export_refuses_an_incomplete_table_and_round_trips_a_complete_one(tmp_path):
    out = export_proxy_arrays(FilledTable(), ["a"], tmp_path / "a.npz")
    arrays, settings = load_proxy_arrays(out)
    assert settings == {"seed": 0} and arrays["a"][0][7] == 7.0 and arrays["a"][1][7] == 0.5
    with pytest.raises(NotAvailableError, match="missing for 15625 cells"):
        export_proxy_arrays(FilledTable(), ["b"], tmp_path / "b.npz")


def test_missing_or_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(NotAvailableError):
        load_proxy_arrays(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a proxy-score file"):
        load_proxy_arrays(tmp_path / "bad.npz")
    assert shipped_path().name == "nb201_proxies_cifar10.npz"


def test_the_export_command_writes_what_the_tabular_evaluator_reads(tmp_path, cli):
    from pmfnas.evaluators.proxy_table import ProxyTable

    path = tmp_path / "table.db"
    with ProxyTable(path, {"seed": 0}) as table:
        table._db.executemany(  # a complete column without scoring 15,625 networks
            "INSERT INTO scores VALUES (?, 'nwot', ?, 0.25)", [(i, float(i)) for i in range(15625)]
        )
        table._db.commit()
        table.put(3, {"zico": (1.0, 0.5)})
    code, out, _ = cli.run(
        "proxies",
        "export",
        str(path),
        "--proxies",
        "nwot",
        "--out",
        str(tmp_path / "p.npz"),
    )
    assert code == 0 and "1 proxies (nwot)" in out
    arrays, settings = load_proxy_arrays(tmp_path / "p.npz")
    assert settings == {"seed": 0} and arrays["nwot"][0][6111] == 6111.0
    code, _, err = cli.run("proxies", "export", str(path), "--out", str(tmp_path / "q.npz"))
    assert code == 2 and "proxy zico is missing for 15624 cells" in err
    assert not (tmp_path / "q.npz").exists()
    code, _, err = cli.run(
        "proxies", "export", str(tmp_path / "none.db"), "--out", str(tmp_path / "r.npz")
    )
    assert code == 2 and "no such proxy table" in err
