"""The model registry: every network by name, with its metadata.

`@register_model('name', input_size=224, paper='...')` on a constructor
`fn(*, num_classes, rngs, dtype=None, **options)`. The metadata (`ModelInfo`) is what the
summary CLI, the benchmarks and the model table read instead of hard-coding each network's
resolution. `tests/test_model_counts.py` holds the exact parameter count of every registered
model at 1,000 classes and fails when a model is registered without one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from flax import nnx

from lineage.registry import Registry

ModelBuilder = Callable[..., nnx.Module]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a model is built for.

    Attributes:
      input_size: the height and width of the input it was designed for (224, 299, 32).
      in_channels: the input channels its constructor defaults to.
      paper: the paper, and the table or figure, the network comes from.
    """

    input_size: int
    paper: str
    in_channels: int = 3


MODELS: Registry[ModelBuilder] = Registry('model', 'lineage.models')
model_names = MODELS.names


def register_model(
    name: str, *, input_size: int, paper: str, in_channels: int = 3
) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering a model constructor under `name` (names are unique)."""
    return MODELS.register(name, ModelInfo(input_size, paper, in_channels))


def model_info(name: str) -> ModelInfo:
    """The metadata of the model registered as `name`.

    Raises:
      ValueError: one line naming the unknown model and listing the choices.
    """
    return MODELS.info(name)


def build_model(name: str, *, num_classes: int, rngs: nnx.Rngs, **options: Any) -> nnx.Module:
    """Builds the model registered as `name`.

    Raises:
      ValueError: one line naming the unknown model and listing the choices.
    """
    return MODELS.get(name)(num_classes=num_classes, rngs=rngs, **options)
