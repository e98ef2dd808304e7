"""Plug-ins: ``pmfnas --plugin MODULE_OR_FILE.py`` imports a user's module before the command, an
installed package offers spaces under the ``pmfnas.spaces`` entry points, and a stored study
of a space nobody loaded is refused with one line saying how to load it."""

import pytest

from pmfnas.cli.plugins import load_plugin
from pmfnas.errors import ConfigError
from pmfnas.spaces import SPACES, NB201Space, create_space
from pmfnas.storage import Storage
from pmfnas.types import Fidelity, Trial, TrialState

PLUGIN = """
from pmfnas.spaces import SPACES, NB201Space


@SPACES.register("{name}")
class Renamed(NB201Space):
    name = "{name}"
    built = 0

    def __init__(self):
        type(self).built += 1
"""
"""A plug-in registering NB201's cells under another name (a space pmfnas does not know)."""


def plugin_file(folder, module, space):
    path = folder / f"{module}.py"
    path.write_text(PLUGIN.format(name=space), encoding="utf-8")
    return path


def stored_study(path, space_name):
    """A storage file with one study of ``space_name``, written as NB201 cells."""
    db = Storage(path)
    config = {"strategy": "rea", "seed": 0, "space": space_name, "evaluator": {"benchmark": "toy"}}
    sid = db.study("s", config)
    for n in range(3):
        trial = Trial(n, NB201Space().arch(n), Fidelity(epochs=12), TrialState.COMPLETE,
                      {"val_acc": 80.0 + n}, 1.0, n + 1.0, reason="sampled")  # fmt: skip
        db.append(sid, trial, NB201Space())
    db.close()
    return path


def test_report_of_a_study_on_a_plugin_space(cli, tmp_path):
    path = stored_study(tmp_path / "runs.db", "plugin-file-space")
    code, _, err = cli.run("report", path, "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1
    assert "unknown search space 'plugin-file-space'" in err
    assert "pmfnas --plugin MODULE_OR_FILE.py" in err and "'pmfnas.spaces' entry point" in err
    plugin = plugin_file(tmp_path, "my_space", "plugin-file-space")
    # Named twice, imported once (a second import would register the space twice).
    code, stdout, err = cli.run(
        "--plugin", plugin, "--plugin", plugin, "report", path, "--out", tmp_path / "out"
    )
    assert code == 0, err
    assert "wrote" in stdout and (tmp_path / "out" / "report.html").is_file()
    assert load_plugin(str(plugin)).Renamed.built == 1  # the report built the space once
    assert load_plugin(str(plugin)) is load_plugin(
        str(tmp_path / ".." / tmp_path.name / plugin.name)
    )


def test_a_plugin_may_be_a_module_name(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_file(tmp_path, "pmfnas_test_plugin_module", "plugin-module-space")
    path = stored_study(tmp_path / "runs.db", "plugin-module-space")
    args = ("report", path, "--out", tmp_path / "out")
    assert cli.run("--plugin", "pmfnas_test_plugin_module", *args)[0] == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing_plugin.py", "plug-in file missing_plugin.py not found"),
        ("no_such_plugin_module", "plug-in 'no_such_plugin_module': no module named"),
        ("no_such_package.spaces", "no module named 'no_such_package'"),
    ],
)
def test_a_plugin_that_cannot_be_found_is_one_line_exit_2(cli, tmp_path, spec, message):
    code, _, err = cli.run("--plugin", spec, "report", tmp_path / "runs.db")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert message in err


def test_a_plugin_missing_a_module_of_its_own_shows_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "pmfnas_test_broken_plugin.py").write_text("import surely_not_installed_xyz\n")
    with pytest.raises(ModuleNotFoundError, match="surely_not_installed_xyz"):
        load_plugin("pmfnas_test_broken_plugin")
    with pytest.raises(ConfigError):
        load_plugin(str(tmp_path / "absent.py"))


def test_an_installed_package_offers_a_space_under_the_entry_points(tmp_path, monkeypatch):
    """A distribution on the path whose ``pmfnas.spaces`` entry point names the module that
    registers the space: asking for the space imports it."""
    plugin_file(tmp_path, "pmfnas_test_entry_point_space", "entry-point-space")
    info = tmp_path / "pmfnas_test_entry_point-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: pmfnas-test-entry-point\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pmfnas.spaces]\nentry-point-space = pmfnas_test_entry_point_space\n"
    )
    assert "entry-point-space" not in SPACES.names()
    monkeypatch.syspath_prepend(str(tmp_path))
    space = create_space("entry-point-space")
    assert space.name == "entry-point-space" and isinstance(space, NB201Space)
