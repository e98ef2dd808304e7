"""A strategy's parameters, read from the strategy itself: names, types and defaults from its
constructor's signature, one line of help each from the ``Args:`` section of its docstring.

There is no second list to keep in step with the code: ``pmfnas strategies`` prints what this
module reads, and :func:`check_params` checks a user's ``-o KEY=VALUE`` against the same
signature, so an unknown key or a value of the wrong type is one clear error instead of a
``TypeError`` from inside the strategy.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from types import NoneType, UnionType
from typing import Any

from pmfnas.errors import ParameterError
from pmfnas.units import VALUE_KINDS, parse_value

NOT_PARAMETERS = ("self", "space", "seed", "ladder")
"""Constructor arguments every strategy takes from the study, not from the user."""

_SECTION = re.compile(r"^Args\b[^:\n]*:\s*$")
_ENTRY = re.compile(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Parameter:
    """One parameter of a strategy, as its constructor declares it."""

    name: str
    kind: type | None
    """``int``, ``float``, ``bool`` or ``str``; ``None`` for one without a type (taken as given)."""
    default: Any
    """The default value; :data:`inspect.Parameter.empty` for a required parameter."""
    optional: bool
    """Whether ``None`` is a value (``str | None``): "not set, use the evaluator's"."""
    doc: str

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def summary(self) -> str:
        """The first sentence of :attr:`doc`, for a one-line listing."""
        return re.split(r"(?<=\.)\s", self.doc, maxsplit=1)[0]

    @property
    def type_name(self) -> str:
        return self.kind.__name__ if self.kind else "any"

    def accept(self, value: Any) -> Any:
        """``value`` as this parameter takes it: text (from the command line) is parsed as the
        declared type, anything else must already be of it; a :class:`ParameterError` if not."""
        if self.kind is None:
            return value
        if isinstance(value, str):
            return parse_value(value, self.kind, self.name)
        if (value is None and self.optional) or _is_kind(value, self.kind):
            return value
        raise ParameterError(f"{self.name} must be {VALUE_KINDS[self.kind]}, got {value!r}")


def _is_kind(value: Any, kind: type) -> bool:
    """Whether ``value`` is of ``kind``, NumPy's numbers included; an integer is a number, a
    boolean is neither."""
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, {int: Integral, float: Real}.get(kind, kind))


def parameters(cls: type) -> list[Parameter]:
    """The user's parameters of strategy class ``cls``, in the order of its constructor."""
    hints = _hints(cls.__init__)
    docs = parameter_docs(cls)
    found = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in NOT_PARAMETERS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        kind, optional = _kind(hints.get(p.name), p.default)
        found.append(Parameter(p.name, kind, p.default, optional, docs.get(p.name, "")))
    return found


def declared_defaults(cls: type) -> dict[str, Any]:
    """The defaults of ``cls``'s parameters that have one, by name: what a parameter added since
    a study was stored stands for in that study (it ran before the parameter existed)."""
    return {p.name: p.default for p in parameters(cls) if not p.required}


def _hints(function: Any) -> dict[str, Any]:
    """The resolved type hints of ``function``; none where they cannot be resolved (names only
    imported for type checking), so that such a strategy falls back to its defaults' types."""
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError):
        return {}


def _kind(hint: Any, default: Any) -> tuple[type | None, bool]:
    """(declared type, whether ``None`` is allowed) from a hint such as ``int`` or
    ``str | None``; without a usable hint, the type of the default."""
    union = typing.get_origin(hint) in (typing.Union, UnionType)
    args = typing.get_args(hint) if union else (hint,)
    optional = NoneType in args or default is None
    kinds = [a for a in args if a in VALUE_KINDS]
    if len(kinds) == 1:
        return kinds[0], optional
    return (type(default) if type(default) in VALUE_KINDS else None), optional


def parameter_docs(cls: type) -> dict[str, str]:
    """Each parameter's line of help, from the ``Args:`` sections of ``cls``'s docstring and of
    its base classes' (a subclass documents only what it adds): ``name: text``, or
    ``a, b: text`` for parameters that share one, continued on deeper-indented lines."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_args_section(inspect.cleandoc(klass.__dict__.get("__doc__") or "")))
    return docs


def _args_section(doc: str) -> dict[str, str]:
    """The entries of the ``Args:`` section of one cleaned docstring (none without one)."""
    lines = doc.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if _SECTION.match(line)), len(lines))
    docs: dict[str, str] = {}
    names: list[str] = []
    indent = None
    for line in lines[start:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        entry = _ENTRY.match(line.strip()) if depth == indent else None
        if depth < indent or not (entry or names):
            break  # the section ended
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            text = entry.group(2)
        else:
            text = f"{docs[names[0]]} {line.strip()}"
        docs.update(dict.fromkeys(names, _plain(text)))
    return docs


def _plain(text: str) -> str:
    """Docstring markup (````x````) as plain text for a terminal."""
    return text.replace("``", "").strip()


def summary(cls: type) -> str:
    """The first paragraph of the strategy's docstring, on one line."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    return _plain(" ".join(doc.split("\n\n", 1)[0].split()))


def check_params(name: str, cls: type, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as strategy ``name`` (class ``cls``) takes them, each parsed or checked as its
    type; a :class:`ParameterError` for an unknown or missing one, or one of the wrong type."""
    known = {p.name: p for p in parameters(cls)}
    for key in params:
        if key not in known:
            listed = ", ".join(known) or "none"
            raise ParameterError(f"{name} has no parameter {key!r} (known: {listed})")
    for p in known.values():
        if p.required and p.name not in params:
            raise ParameterError(f"{name} needs parameter {p.name!r} (-o {p.name}=...)")
    return {key: known[key].accept(value) for key, value in params.items()}
