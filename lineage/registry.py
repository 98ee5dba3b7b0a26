"""One registry for every kind of named part: blocks, models and data sets.

Each kind keeps one `Registry`; a module registers its builder under a name with a decorator,
and everything else (the config, the summary CLI, the tests parametrized over every name) takes
it by that name. A registration may carry metadata, the way timm's `default_cfg` does: a model's
default input size, input channels and paper (`lineage.models.registry.ModelInfo`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

Builder = TypeVar('Builder', bound=Callable[..., Any])


class Registry(Generic[Builder]):
    """Builders of one kind by name, with their metadata.

    Args:
      kind: what the names name, for messages ('block', 'model', 'data set').
      package: the package whose import registers the built-in builders ('lineage.blocks').
    """

    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
        self._builders: dict[str, Builder] = {}
        self._info: dict[str, Any] = {}

    def register(self, name: str, info: Any = None) -> Callable[[Builder], Builder]:
        """Decorator registering a builder under `name` (names are unique), with `info`."""

        def decorator(builder: Builder) -> Builder:
            if name in self._builders:
                raise ValueError(f'{self.kind} {name!r} is registered twice; pick another name')
            self._builders[name] = builder
            self._info[name] = info
            return builder

        return decorator

    def names(self) -> list[str]:
        """Sorted names of every registered builder (the built-in ones included)."""
        importlib.import_module(self.package)
        return sorted(self._builders)

    def _check(self, name: str) -> None:
        names = self.names()
        if name not in self._builders:
            raise ValueError(f'unknown {self.kind} {name!r}; choose one of: {", ".join(names)}')

    def get(self, name: str) -> Builder:
        """The builder registered as `name`.

        Raises:
          ValueError: one line naming the unknown name and listing the choices.
        """
        self._check(name)
        return self._builders[name]

    def info(self, name: str) -> Any:
        """The metadata registered with `name` (None if none).

        Raises:
          ValueError: as `get`.
        """
        self._check(name)
        return self._info[name]
