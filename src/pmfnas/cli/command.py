"""The classes every ``pmfnas`` command and command group is built with.

* Help without internals: a flag shows no ``<bool>`` type and an argument is named in capitals
  (``ARCH``), not typer's ``{arch}``.
* Old option spellings, kept for one release: a command lists them where it is declared
  (``old_names``, ``old_flags``); they still work and print one ``warning:`` line each.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _PlainHelp:
    """Help that names flags and arguments as a person types them (a mixin of the classes below)."""

    params: list[Any]

    def _plain_metavars(self) -> None:
        for param in self.params:
            if isinstance(param, TyperArgument) and param.metavar is None:
                param.metavar = param.name.upper()
            elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""  # the flag's name says it all

    def get_help_option(self, ctx: typer.Context) -> TyperOption | None:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class Command(_PlainHelp, TyperCommand):
    """A command whose help is plain and which still takes its deprecated option spellings."""

    old_names: ClassVar[Mapping[str, str]] = {}
    """Deprecated option name → its current name (``"--checkpoint": "--checkpoints"``)."""
    old_flags: ClassVar[Mapping[str, str]] = {}
    """Options that were flags and now take a value → the value a bare one stands for
    (``arch info --json`` → ``--json -``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_metavars()

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
        return pieces

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._current_spelling(ctx, args))

    def _current_spelling(self, ctx: typer.Context, args: list[str]) -> list[str]:
        """``args`` with each deprecated spelling replaced by the current one, and a warning.

        Walks the tokens as the parser will, so that an option's value is never taken for an
        option (``export --out -o.py`` writes ``-o.py``), and stops at ``--``.
        """
        if not (self.old_names or self.old_flags):
            return args
        valued = {
            opt
            for p in self.get_params(ctx)
            if isinstance(p, TyperOption) and not p.is_flag and not p.count
            for opt in p.opts
        }
        result: list[str] = []
        i = 0
        while i < len(args):
            token = args[i]
            if token == "--":
                return result + args[i:]
            name, equals, value = (
                token.partition("=") if token.startswith("--") else (token, "", "")
            )
            if name not in self.old_names and (short := self._attached(name)):
                name, equals, value = short, "=", name[len(short) :]
            if name in self.old_names:
                _deprecated(f"{name} is deprecated: use {self.old_names[name]}")
                name = self.old_names[name]
            elif name in self.old_flags and not equals and _bare(args, i):
                flag_value = self.old_flags[name]
                _deprecated(f"{name} without a value is deprecated: write {name} {flag_value}")
                equals, value = "=", flag_value
            result.append(name + equals + value)
            if name in valued and not equals and i + 1 < len(args):
                result.append(args[i + 1])  # the option's value, whatever it looks like
                i += 1
            i += 1
        return result

    def _attached(self, token: str) -> str | None:
        """The deprecated short option at the start of ``token`` written with its value
        (``-ofile.onnx``), if there is one."""
        return next(
            (old for old in self.old_names if len(old) == 2 and token.startswith(old)), None
        )


def _bare(args: list[str], i: int) -> bool:
    """Whether the option at ``args[i]`` is given without a value: last, or followed by another
    option."""
    following = args[i + 1] if i + 1 < len(args) else None
    return following is None or (following.startswith("-") and following != "-")


def _deprecated(message: str) -> None:
    warnings.warn(f"{message} (the old spelling goes in the next release)", FutureWarning, 2)


class Group(_PlainHelp, TyperGroup):
    """A command group with plain help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_metavars()


class Typer(typer.Typer):
    """``typer.Typer`` building :class:`Command` and :class:`Group`; ``command`` also takes the
    command's deprecated spellings (``old_names``, ``old_flags``, see :class:`Command`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=Group, **kwargs)

    def command(  # type: ignore[override]
        self,
        name: str | None = None,
        *,
        old_names: Mapping[str, str] | None = None,
        old_flags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        cls = Command
        if old_names or old_flags:
            spellings = {"old_names": dict(old_names or {}), "old_flags": dict(old_flags or {})}
            cls = type("Command", (Command,), spellings)
        return super().command(name, cls=cls, **kwargs)
