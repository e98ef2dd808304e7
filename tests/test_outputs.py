"""Output paths are checked before the work whose result they will hold."""

import os

import pytest

from pmfnas.errors import ConfigError
from pmfnas.outputs import writable_file, writable_folder


def test_a_file_needs_an_existing_folder_and_must_not_be_one(tmp_path):
    assert writable_file(tmp_path / "new.json") == tmp_path / "new.json"
    (tmp_path / "old.json").write_text("{}")
    assert writable_file(tmp_path / "old.json") == tmp_path / "old.json"  # overwritten later
    with pytest.raises(ConfigError, match=r"--json .*nodir/o.json: folder .*nodir does not exist"):
        writable_file(tmp_path / "nodir" / "o.json", "--json")
    with pytest.raises(ConfigError, match=r"is a folder, not a file"):
        writable_file(tmp_path)
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match=r"does not exist"):
        writable_file(tmp_path / "afile" / "o.json")


def test_a_folder_may_be_new_but_not_below_a_file(tmp_path):
    assert writable_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert writable_folder(tmp_path) == tmp_path
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match=r"--out .*afile: .*afile is a file, not a folder"):
        writable_folder(tmp_path / "afile", "--out")
    with pytest.raises(ConfigError, match=r"afile is a file, not a folder"):
        writable_folder(tmp_path / "afile" / "sub")


def test_relative_paths_are_judged_from_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(writable_file(tmp_path.joinpath("x").relative_to(tmp_path))) == "x"
    assert str(
        writable_folder(tmp_path.joinpath("new", "deeper").relative_to(tmp_path))
    ) == os.path.join("new", "deeper")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"is not writable"):
        writable_file(locked / "o.json")
    with pytest.raises(ConfigError, match=r"is not writable"):
        writable_folder(locked / "sub")
