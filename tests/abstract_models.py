"""Models and blocks built abstractly for tests: `nnx.eval_shape`, so parameter counts, layer
tables and output shapes come without initializing or computing anything."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flax import nnx

from lineage.models import build_model


def abstract(make: Callable[[nnx.Rngs], nnx.Module]) -> nnx.Module:
    """`make(rngs)`, built abstractly.

    Args:
      make: builds the module from the `nnx.Rngs` it is given.

    Returns:
      The module with `jax.ShapeDtypeStruct` leaves.
    """
    return nnx.eval_shape(lambda: make(nnx.Rngs(0)))


@functools.cache  # building a model abstractly still traces it: share one per configuration
def abstract_model(name: str, num_classes: int = 1000, **options) -> nnx.Module:
    """The registered model `name`, built abstractly (options must be hashable).

    Args:
      name: a registered model name.
      num_classes: classifier outputs.
      **options: the model's options.

    Returns:
      The model with `jax.ShapeDtypeStruct` leaves; the same object for the same arguments.
    """
    return abstract(lambda rngs: build_model(name, num_classes=num_classes, rngs=rngs, **options))
