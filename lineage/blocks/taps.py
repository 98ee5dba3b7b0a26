"""Shifted windows of an NHWC input: the slices every tap-based conv form and the max pool use.

One strided slice of the padded input per kernel tap (`window_taps`): a conv multiplies each by
its tap's weights and adds (lineage/blocks/conv_algorithms.py), a max pool takes their maximum
(lineage/blocks/pooling.py). Their gradient is again slices padded back in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

Padding = Sequence[tuple[int, int]]


def output_grid(
    size: tuple[int, int],
    kernel_size: tuple[int, int],
    strides: tuple[int, int],
    padding: Padding,
    dilation: tuple[int, int] = (1, 1),
) -> tuple[int, int]:
    """`(Ho, Wo)` of a window `kernel_size` sliding over an `(H, W)` grid padded by `padding`."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(size, kernel_size, strides, padding, dilation, strict=True)
    )


def window_taps(
    x: jax.Array,
    kernel_size: tuple[int, int],
    strides: tuple[int, int],
    padding: Padding,
    dilation: tuple[int, int] = (1, 1),
    fill: float = 0.0,
) -> list[jax.Array]:
    """The input `(..., H, W, C)` under each kernel tap, row-major over `(kh, kw)`.

    Args:
      fill: the value of the padded positions (0 for a conv, -inf for a max pool).

    Returns:
      `kh * kw` arrays `(..., Ho, Wo, C)`: one strided slice of the padded input each.
    """
    *lead, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation
    (top, bottom), (left, right) = padding
    ho, wo = output_grid((h, w), kernel_size, strides, padding, dilation)
    if ho < 1 or wo < 1:
        raise ValueError(
            f'conv: a {kh}x{kw} kernel (dilation {dilation}) does not fit the {h}x{w} input '
            f'padded by {padding}; use a larger input or same padding'
        )
    zero = [(0, 0, 0)] * len(lead)
    # lax.pad: its transpose (in the gradient) is a slice, and negative pads are allowed.
    xp = jax.lax.pad(
        x, jnp.asarray(fill, x.dtype), [*zero, (top, bottom, 0), (left, right, 0), (0, 0, 0)]
    )
    return [
        jax.lax.slice(
            xp,
            (*(0 for _ in lead), i * dh, j * dw, 0),
            (*lead, i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1, c),
            (*(1 for _ in lead), sh, sw, 1),
        )
        for i in range(kh)
        for j in range(kw)
    ]


def static_padding(padding: Padding) -> tuple[tuple[int, int], ...]:
    """Padding as a hashable tuple, for static (non-differentiated) custom_vjp arguments."""
    return tuple((int(lo), int(hi)) for lo, hi in padding)
