"""Max and average pooling over NHWC with the same symmetric padding as `ConvBN`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lineage.blocks.conv import pair, same_padding


def _pool(x, init, op, window, strides, padding):
    return jax.lax.reduce_window(
        x, init, op, (1, *window, 1), (1, *strides, 1), [(0, 0), *padding, (0, 0)]
    )


def max_pool(x: jax.Array, window: int = 3, strides: int = 1) -> jax.Array:
    """Max pool; padded positions never win (they hold -inf)."""
    window, strides = pair(window), pair(strides)
    padding = same_padding(window, (1, 1))
    return _pool(x, jnp.array(-jnp.inf, x.dtype), jax.lax.max, window, strides, padding)


def avg_pool(x: jax.Array, window: int = 3, strides: int = 1) -> jax.Array:
    """Average pool over the valid (unpadded) positions of each window."""
    window, strides = pair(window), pair(strides)
    padding = same_padding(window, (1, 1))
    zero = jnp.array(0, x.dtype)
    total = _pool(x, zero, jax.lax.add, window, strides, padding)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = _pool(ones, zero, jax.lax.add, window, strides, padding)
    return total / count
