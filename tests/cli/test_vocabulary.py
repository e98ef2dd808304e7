"""One vocabulary across commands (docs/cli.md#one-vocabulary): a name means one thing in every
command, the help shows what a person types, and the old spellings still work for one release."""

import json
from collections import defaultdict
from enum import Enum

import pytest
import typer

from pmfnas.cli import app
from pmfnas.cli.command import Command
from pmfnas.strategies import STRATEGIES
from pmfnas.strategies.parameters import parameters


def commands(group=None, path=()):
    """(path, command) of every command, in groups too."""
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(commands())


def options(command):
    """The command's options, the help option included."""
    return [p for p in command.get_params(typer.Context(command)) if p.opts[0].startswith("-")]


def test_every_command_is_built_by_the_plain_help_command_class():
    assert COMMANDS and all(isinstance(c, Command) for c in COMMANDS.values())


@pytest.mark.parametrize("path", [(), ("arch",), ("proxies",), *COMMANDS])
def test_help_shows_no_internal_metavars(cli, path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping that could split a '<bool>'
    code, out, err = cli.run(*path, "--help")
    assert code == 0, err
    assert "Usage: " in out
    assert "<bool>" not in out and "{" not in out and "}" not in out
    assert "list[" not in out  # a repeatable option shows its grammar instead


def test_each_option_name_means_one_thing_in_every_command():
    """The same long name has one type and takes a value or not alike everywhere (a choice is a
    choice, whatever it offers: --format names a file format in every command); a short name
    stands for one long name."""
    kinds, shorts = defaultdict(set), defaultdict(set)
    for command in COMMANDS.values():
        for option in options(command):
            long_names = [o for o in option.opts if o.startswith("--")]
            for name in long_names + option.secondary_opts:
                kind = option.type_descriptor.annotation
                kind = "choice" if isinstance(kind, type) and issubclass(kind, Enum) else kind
                kinds[name].add((kind, option.is_flag))
            for short in (o for o in option.opts if not o.startswith("--")):
                shorts[short].update(long_names)
    assert {n: k for n, k in kinds.items() if len(k) > 1} == {}
    assert {s: n for s, n in shorts.items() if len(n) > 1} == {}
    assert shorts["-o"] == {"--option"}


CANONICAL = {
    ("search",): ["--option", "-o", "--json", "--storage", "--study", "--checkpoints",
                  "--channels", "--cells", "--threads", "--seed"],
    ("bench",): ["--option", "-o", "--json", "--storage"],
    ("train",): ["--checkpoints", "--channels", "--cells", "--json", "--seed"],
    ("export",): ["--out", "--format", "--channels", "--cells"],
    ("arch", "info"): ["--json"],
    ("proxies", "compute"): ["--channels", "--cells", "--seed"],
    ("proxies", "score"): ["--channels", "--cells", "--json", "--seed"],
}  # fmt: skip
OLD = {"--checkpoint", "--width"}


@pytest.mark.parametrize("path", CANONICAL)
def test_the_canonical_names_are_there_and_the_old_ones_are_not(path):
    names = {o for option in options(COMMANDS[path]) for o in option.opts}
    assert set(CANONICAL[path]) <= names
    assert not names & OLD
    if path == ("export",):
        assert "-o" not in names  # -o is a strategy parameter, an output file is --out


def test_json_takes_a_path_everywhere():
    jsons = [o for c in COMMANDS.values() for o in options(c) if "--json" in o.opts]
    assert len(jsons) >= 5 and all(not o.is_flag and o.metavar == "PATH" for o in jsons)


@pytest.mark.parametrize(
    ("argv", "old", "new"),
    [
        (["train", "0", "--checkpoint", "afile"], "--checkpoint", "--checkpoints"),
        (["proxies", "compute", "--width", "0"], "--width", "--channels"),
        (["proxies", "score", "--width=0"], "--width", "--channels"),
    ],
)
def test_an_old_name_still_works_and_says_so_once(cli, tmp_path, monkeypatch, argv, old, new):
    """The value reaches the option of the new name: it is refused in that option's name, after
    one deprecation line and before any work."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    code, _, err = cli.run(*argv)
    warning, error = err.splitlines()
    assert warning.startswith(f"warning: {old} is deprecated: use {new}")
    assert code == 2 and new in error and old not in error.replace(new, "")


def test_export_o_still_writes_the_file(cli, tmp_path):
    code, _, err = cli.run("export", "0", "--format", "python", "-o", tmp_path / "net.py")
    assert code == 0 and (tmp_path / "net.py").is_file()
    assert err.startswith("warning: -o is deprecated: use --out") and err.count("\n") == 1
    code, _, err = cli.run("export", "0", "--format", "python", f"-o{tmp_path / 'joined.py'}")
    assert code == 0 and (tmp_path / "joined.py").is_file() and err.count("\n") == 1


def test_a_value_that_looks_like_an_old_name_is_left_alone(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli.run("export", "0", "--format", "python", "--out", "-o.py")
    assert code == 0 and err == ""
    assert (tmp_path / "-o.py").is_file()  # the value of --out, not -o with '.py' attached


def test_arch_info_json_goes_to_stdout_with_a_dash_and_bare_json_still_works(cli, data_env):
    code, out, err = cli.run("arch", "info", "6111", "--json", "-")
    assert code == 0 and err == ""
    assert json.loads(out)["dataset"] == "cifar10"
    code, old, err = cli.run("arch", "info", "6111", "--json")
    assert code == 0 and json.loads(old) == json.loads(out)
    assert err.startswith("warning: --json without a value is deprecated: write --json -")


def test_search_json_to_stdout_is_the_json_alone(cli, data_env, tmp_path):
    args = ["search", "--benchmark", "nb201", "--strategy", "random", "--budget", "2000"]
    code, out, err = cli.run(*args, "--json", "-")
    assert code == 0, err
    summary = json.loads(out)  # no text before or after it
    code, text, _ = cli.run(*args, "--json", tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) | {"wall_s": 0, "strategy_s": 0} == (
        summary | {"wall_s": 0, "strategy_s": 0}
    )
    assert summary["arch"] in text


def test_strategies_lists_every_strategy_and_parameter(cli):
    code, out, err = cli.run("strategies")
    assert code == 0, err
    for name in STRATEGIES.names():
        assert f"{name}: " in out
        for p in parameters(STRATEGIES.get(name)):
            assert p.name in out and p.summary.split()[0] in out


def test_strategies_shows_one_in_full(cli):
    code, out, _ = cli.run("strategies", "pmf")
    assert code == 0 and out.startswith("pmf: PMF-NAS") and "rea:" not in out
    flat = " ".join(out.replace("│", " ").split())  # a table row's wrapped cells, joined
    for p in parameters(STRATEGIES.get("pmf")):
        assert f" {p.name} {p.type_name} " in flat and p.doc in flat
    assert " low_share float 0.05 " in flat and " surrogate str extra_trees " in flat


def test_strategies_of_an_unknown_name_is_one_line(cli):
    code, _, err = cli.run("strategies", "nope")
    assert code == 2 and err == (
        f"error: unknown strategy 'nope' (known: {', '.join(STRATEGIES.names())})\n"
    )
