"""The model registry: every network by name.

`@register_model('name')` on a constructor `fn(*, num_classes, rngs, dtype=None, **options)`.
`tests/test_model_counts.py` holds the exact parameter count of every registered model at 1,000
classes and fails when a model is registered without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flax import nnx

ModelBuilder = Callable[..., nnx.Module]
_MODELS: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering a model constructor under `name` (names are unique)."""

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        if name in _MODELS:
            raise ValueError(f'model {name!r} is registered twice; pick another name')
        _MODELS[name] = builder
        return builder

    return decorator


def model_names() -> list[str]:
    """Sorted names of all registered models."""
    import lineage.models  # noqa: F401  (registers the built-in models)

    return sorted(_MODELS)


def build_model(name: str, *, num_classes: int, rngs: nnx.Rngs, **options: Any) -> nnx.Module:
    """Builds the model registered as `name`.

    Raises:
      ValueError: one line naming the unknown model and listing the choices.
    """
    names = model_names()
    if name not in _MODELS:
        raise ValueError(f'unknown model {name!r}; choose one of: {", ".join(names)}')
    return _MODELS[name](num_classes=num_classes, rngs=rngs, **options)
