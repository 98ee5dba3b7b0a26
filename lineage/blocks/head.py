"""The classifier head shared by every network: global average pool, dropout, dense.

`Dense` is the one fully-connected layer of the codebase, so that it is counted (`macs`) and
traced (`lineage.layer_trace`) like `ConvBN`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage import layer_trace


class Dense(nnx.Module):
    """A fully-connected layer (`nnx.Linear`) that reports its MACs."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.linear = nnx.Linear(
            in_features, out_features, dtype=dtype, param_dtype=param_dtype, rngs=rngs
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.linear(x)
        layer_trace.record(self, y)
        return y

    def macs(self, output_shape: tuple[int, ...]) -> int:
        """Multiply-accumulates for one example."""
        del output_shape
        return self.in_features * self.out_features


class ClassifierHead(nnx.Module):
    """Global average pool over H and W, dropout, then a dense layer to `num_classes` logits."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        dropout: float = 0.0,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None
        self.fc = Dense(in_features, num_classes, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.mean(x, axis=(1, 2))
        if self.dropout is not None:
            x = self.dropout(x)
        # Logits in float32 whatever the compute dtype: softmax and the loss need the range.
        return self.fc(x).astype(jnp.float32)
