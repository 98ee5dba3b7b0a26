"""Max and average pooling over NHWC, padded as `ConvBN` pads: 'same', 'same_tf' or 'valid'."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from lineage.blocks.conv_bn import padding_amounts, pair
from lineage.blocks.taps import window_taps


def _pool(x, init, op, window, strides, padding):
    # `init` must be a concrete NumPy scalar: only then does reduce_window recognise the max/add
    # monoid and use its differentiable form (a jnp array init is not concrete under a trace).
    return jax.lax.reduce_window(
        x, init, op, (1, *window, 1), (1, *strides, 1), [(0, 0), *padding, (0, 0)]
    )


def _padding(x, window, strides, padding: str) -> tuple[tuple[int, int], ...]:
    """`(lo, hi)` per spatial axis, as a tuple: hashable, so `_max_taps` can take it static."""
    return tuple(padding_amounts(padding, x.shape[1:3], window, strides))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_taps(x, window, strides, padding):
    return functools.reduce(jnp.maximum, window_taps(x, window, strides, padding, fill=-np.inf))


def _max_taps_fwd(x, window, strides, padding):
    y = _max_taps(x, window, strides, padding)
    return y, (x, y)


def _max_taps_bwd(window, strides, padding, residuals, ct):
    x, y = residuals
    taps, taps_vjp = jax.vjp(lambda x: window_taps(x, window, strides, padding, fill=-np.inf), x)
    # Each output's gradient goes to the first tap (row-major) holding its maximum: the input
    # position reduce_window's own gradient (select_and_scatter, `ge`) picks on a tie.
    first = jnp.full(y.shape, len(taps), jnp.int8 if len(taps) < 127 else jnp.int32)
    for t in reversed(range(len(taps))):
        first = jnp.where(taps[t] == y, jnp.asarray(t, first.dtype), first)
    zero = jnp.zeros((), ct.dtype)
    return (taps_vjp([jnp.where(first == t, ct, zero) for t in range(len(taps))])[0],)


_max_taps.defvjp(_max_taps_fwd, _max_taps_bwd)

MAX_POOL_FORMS = ('reduce_window', 'taps')
AUTO_CPU_FORM = 'taps'  # the form `max_pool` takes on CPU; elsewhere 'reduce_window'
_FORM: str | None = None  # the `max_pool_form` setting; None: by backend, as above


@contextlib.contextmanager
def max_pool_form(form: str | None) -> Iterator[None]:
    """Max pools traced inside the block take `form` (None: by backend), as `conv_impl` does."""
    global _FORM
    if form is not None and form not in MAX_POOL_FORMS:
        raise ValueError(f'max_pool: form={form!r}; use one of {", ".join(MAX_POOL_FORMS)}')
    previous, _FORM = _FORM, form
    try:
        yield
    finally:
        _FORM = previous


def max_pool(
    x: jax.Array,
    window: int = 3,
    strides: int = 1,
    padding: str = 'same',
    *,
    form: str | None = None,
) -> jax.Array:
    """Max pool; padded positions never win (they hold -inf). `padding`: see `conv.PADDINGS`.

    Two exact forms, equal in output and gradient (ties included):
    - 'reduce_window': `lax.reduce_window`; its gradient is XLA's select_and_scatter, which the
      CPU backend expands into a variadic reduce_window carrying four int32 index arrays, an
      index concatenation and a scatter, a cost seen in whole train steps
      (experiments/results/step_profiles.md);
    - 'taps': the maximum over the window's shifted slices (one fused loop), with a
      `custom_vjp` that routes each output's gradient to the first tap holding the maximum
      (one int8 index per output) and pads each tap's share back in place.
    `form=None` takes the `max_pool_form` setting, else `AUTO_CPU_FORM` ('taps') on CPU and
    'reduce_window' elsewhere (the native op of GPU/TPU).
    """
    window, strides = pair(window), pair(strides)
    pads = _padding(x, window, strides, padding)
    form = form or _FORM or (AUTO_CPU_FORM if jax.default_backend() == 'cpu' else 'reduce_window')
    if form == 'taps':
        return _max_taps(x, window, strides, pads)
    if form != 'reduce_window':
        raise ValueError(f'max_pool: form={form!r}; use one of {", ".join(MAX_POOL_FORMS)}')
    return _pool(x, np.array(-np.inf, x.dtype), jax.lax.max, window, strides, pads)


def avg_pool(x: jax.Array, window: int = 3, strides: int = 1, padding: str = 'same') -> jax.Array:
    """Average pool over the unpadded positions of each window (TensorFlow's 'SAME' too)."""
    window, strides = pair(window), pair(strides)
    pads = _padding(x, window, strides, padding)
    zero = np.array(0, x.dtype)
    total = _pool(x, zero, jax.lax.add, window, strides, pads)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = _pool(ones, zero, jax.lax.add, window, strides, pads)
    return total / count
