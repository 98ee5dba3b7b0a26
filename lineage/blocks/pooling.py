"""Max and average pooling over NHWC with the same symmetric padding as `ConvBN` (or none)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lineage.blocks.conv import pair, same_padding


def _pool(x, init, op, window, strides, padding):
    # `init` must be a concrete NumPy scalar: only then does reduce_window recognise the max/add
    # monoid and use its differentiable form (a jnp array init is not concrete under a trace).
    return jax.lax.reduce_window(
        x, init, op, (1, *window, 1), (1, *strides, 1), [(0, 0), *padding, (0, 0)]
    )


def _padding(window: tuple[int, int], padding: str) -> list[tuple[int, int]]:
    if padding not in ('same', 'valid'):
        raise ValueError(f"pooling: padding={padding!r}; use 'same' or 'valid'")
    return same_padding(window, (1, 1)) if padding == 'same' else [(0, 0), (0, 0)]


def max_pool(x: jax.Array, window: int = 3, strides: int = 1, padding: str = 'same') -> jax.Array:
    """Max pool; padded positions never win (they hold -inf). `padding`: 'same' or 'valid'."""
    window, strides = pair(window), pair(strides)
    pads = _padding(window, padding)
    return _pool(x, np.array(-np.inf, x.dtype), jax.lax.max, window, strides, pads)


def avg_pool(x: jax.Array, window: int = 3, strides: int = 1, padding: str = 'same') -> jax.Array:
    """Average pool over the unpadded positions of each window. `padding`: 'same' or 'valid'."""
    window, strides = pair(window), pair(strides)
    pads = _padding(window, padding)
    zero = np.array(0, x.dtype)
    total = _pool(x, zero, jax.lax.add, window, strides, pads)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = _pool(ones, zero, jax.lax.add, window, strides, pads)
    return total / count
