import numpy as np
import pytest

from pmfnas.report.proxy_quality import scatter_plot
from pmfnas.runs.proxies import proxy_quality


def test_perfect_and_reversed_rankings():
    acc = np.arange(20.0)
    perfect = proxy_quality("p", acc * 3 + 1, acc, np.ones(20))
    assert perfect.spearman == pytest.approx(1.0) and perfect.kendall == pytest.approx(1.0)
    assert perfect.top_hit_rate == 1.0
    reversed_ = proxy_quality("r", -acc, acc, np.ones(20))
    assert reversed_.spearman == pytest.approx(-1.0) and reversed_.top_hit_rate == 0.0


def test_hand_computed_case():
    acc = np.array([1.0, 2.0, 3.0, 4.0])
    scores = np.array([1.0, 3.0, 2.0, 4.0])  # one swapped pair
    q = proxy_quality("x", scores, acc, np.array([0.1, 0.2, 0.3, 0.4]), top=0.5)
    assert q.spearman == pytest.approx(1 - 6 * 2 / (4 * 15))  # Σd² = 2
    assert q.kendall == pytest.approx((5 - 1) / 6)  # 5 concordant, 1 discordant pair
    assert q.top_hit_rate == 0.5  # top-2 by score {3, 1}, by truth {3, 2}
    assert q.median_seconds == pytest.approx(0.25)


def test_bad_shapes():
    with pytest.raises(ValueError):
        proxy_quality("x", np.ones(3), np.ones(4), np.ones(3))


def test_scatter_plot_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    acc = rng.random(30)
    scatter_plot(tmp_path / "s.png", {"a": acc, "b": rng.random(30), "c": -acc}, acc, "test acc")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
