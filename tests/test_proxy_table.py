import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from clirun import wait_for
from toy import toy_score_fn

from pmfnas.errors import StorageError
from pmfnas.evaluators.proxy_table import ProxyTable
from pmfnas.spaces.nb201 import NB201Space

SETTINGS = {"data": "toy", "batch_size": 8}
PROXIES = ("size", "conv")


def test_fill_stores_every_score_and_skips_what_exists(tmp_path):
    table = ProxyTable(tmp_path / "t.db", SETTINGS)
    seen = []
    assert (
        table.fill(range(20), PROXIES, toy_score_fn, progress=lambda d, t: seen.append((d, t)))
        == 20
    )
    assert seen[0] == (0, 20) and seen[-1] == (20, 20)
    assert table.fill(range(30), PROXIES, toy_score_fn) == 10
    scores, seconds = table.arrays("size", NB201Space.size)
    cells = [NB201Space().arch(i) for i in range(30)]
    assert scores[:30].tolist() == [float(sum(c)) for c in cells]
    assert np.isnan(scores[30:]).all() and np.all(seconds[:30] == 0.01)


def test_parallel_fill_equals_serial(tmp_path):
    serial = ProxyTable(tmp_path / "a.db", SETTINGS)
    serial.fill(range(12), PROXIES, toy_score_fn)
    parallel = ProxyTable(tmp_path / "b.db", SETTINGS)
    parallel.fill(range(12), PROXIES, toy_score_fn, workers=2)
    for proxy in PROXIES:
        assert np.array_equal(serial.arrays(proxy, 12)[0], parallel.arrays(proxy, 12)[0])


def test_other_settings_are_refused(tmp_path):
    ProxyTable(tmp_path / "t.db", SETTINGS).close()
    with pytest.raises(StorageError):
        ProxyTable(tmp_path / "t.db", {**SETTINGS, "batch_size": 64})


def test_survives_a_kill_in_the_middle(tmp_path):
    """A worker killed mid-fill loses nothing it stored; a second process opening the same new
    file meanwhile is no error (the settings row is written once, whoever comes first)."""
    path = tmp_path / "t.db"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from toy import toy_score_fn
        from pmfnas.evaluators.proxy_table import ProxyTable

        def stalls_at_50():
            score = toy_score_fn()
            def scored(index):
                if index >= 50:
                    time.sleep(3600)  # killed here, with exactly 50 architectures stored
                return score(index)
            return scored

        table = ProxyTable({str(path)!r}, {SETTINGS!r})
        table.fill(range(200), {PROXIES!r}, stalls_at_50)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    wait_for(path.exists, child)
    with ProxyTable(path, SETTINGS) as table:
        wait_for(lambda: len(table.missing(range(200), PROXIES)) == 150, child)
        child.send_signal(signal.SIGKILL)
        child.wait()
    with ProxyTable(path, SETTINGS) as table:
        assert len(table.missing(range(200), PROXIES)) == 150
        assert table.fill(range(200), PROXIES, toy_score_fn) == 150
        assert not np.isnan(table.arrays("conv", 200)[0]).any()
