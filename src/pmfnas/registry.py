"""One small registry type, so that strategies, spaces and datasets are looked up by name, not if-chains."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pmfnas.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names mapped to factories; an unknown name raises :class:`RegistryError` listing the known ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise RegistryError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._items)
