"""Exact convolution forms, and the one place that picks among them (`conv`).

XLA's CPU backend computes `lax.conv_general_dilated` far slower than PyTorch: a depthwise 3x3
(`feature_group_count=C`) by 10x, a dense 3x3 by 2-3x, forward and backward together
(issue 7). The same arithmetic written as shifted slices and multiply-adds or matmuls runs on
XLA's fast paths (fused element-wise loops; Eigen GEMM), and its gradient, by autodiff, is
again shifted multiply-adds and matmuls (the transpose of a strided slice is a pad).

Forms (NHWC input, HWIO kernel with `I = in / groups`, explicit `(lo, hi)` padding):
- `xla`: `lax.conv_general_dilated`, the reference every other form equals.
- `shift`: one strided slice of the padded input per kernel tap; a depthwise conv multiplies
  each slice by its tap's per-channel weights and adds; any other conv multiplies each slice by
  its tap's `(I, O)` matrix (batched over groups) and adds.
- `im2col`: the slices gathered into patches, then one contraction: a matmul with the
  `(kh * kw * I, O)` kernel (batched over groups), or for a depthwise conv one multiply and
  sum over taps.

`auto` picks per backend and layer kind: on CPU the fastest form measured
(`AUTO_CPU`, from experiments/conv_benchmark.py); on TPU/GPU `lax.conv`, the vendor library's
conv, except for grouped convs, which lax.conv cannot shard by batch (`AUTO_ACCELERATOR`).
bfloat16/float16 inputs are computed in float32 and rounded once, as XLA's CPU conv does.

The form is a process-wide setting read when a function is traced (`set_conv_impl`, or the
`conv_impl` context for one trace), so a config sets it once and every block built deep inside
a network follows; a function already jitted keeps the form it was traced with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp

Padding = Sequence[tuple[int, int]]
ConvForm = Callable[
    [jax.Array, jax.Array, tuple[int, int], Padding, tuple[int, int], int], jax.Array
]

KINDS = ('depthwise', 'pointwise', 'grouped', 'dense')


def layer_kind(kernel_shape: Sequence[int], in_features: int, groups: int) -> str:
    """'depthwise', 'pointwise' (1x1, ungrouped), 'grouped' or 'dense' for an HWIO kernel."""
    kh, kw, _, _ = kernel_shape
    if groups > 1 and groups == in_features:
        return 'depthwise'
    if groups > 1:
        return 'grouped'
    return 'pointwise' if (kh, kw) == (1, 1) else 'dense'


# -- the forms ---------------------------------------------------------------------------------


def conv_xla(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int],
    padding: Padding,
    dilation: tuple[int, int],
    groups: int,
) -> jax.Array:
    """`lax.conv_general_dilated` in NHWC/HWIO: the reference form."""
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=[tuple(p) for p in padding],
        rhs_dilation=dilation,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
        feature_group_count=groups,
    )


def _taps(
    x: jax.Array,
    kernel_size: tuple[int, int],
    strides: tuple[int, int],
    padding: Padding,
    dilation: tuple[int, int],
) -> list[jax.Array]:
    """The input under each kernel tap, row-major over `(kh, kw)`: each `(N, Ho, Wo, C)`."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation
    (top, bottom), (left, right) = padding
    ho = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    wo = (w + left + right - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(
            f'conv: a {kh}x{kw} kernel (dilation {dilation}) does not fit the {h}x{w} input '
            f'padded by {padding}; use a larger input or same padding'
        )
    # lax.pad: its transpose (in the gradient) is a slice, and negative pads are allowed.
    xp = jax.lax.pad(
        x, jnp.zeros((), x.dtype), [(0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)]
    )
    return [
        jax.lax.slice(
            xp,
            (0, i * dh, j * dw, 0),
            (n, i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1, c),
            (1, sh, sw, 1),
        )
        for i in range(kh)
        for j in range(kw)
    ]


def _compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    # bfloat16/float16 accumulate in float32 (one rounding of the result, as XLA's CPU conv);
    # float32 and float64 stay as they are.
    return jnp.promote_types(dtype, jnp.float32)


def conv_shift(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int],
    padding: Padding,
    dilation: tuple[int, int],
    groups: int,
) -> jax.Array:
    """Shifted slices times each tap's weights, summed over taps (see the module docstring)."""
    kh, kw, cg, out = kernel.shape
    c = x.shape[-1]
    dtype = x.dtype
    acc = _compute_dtype(dtype)
    taps = _taps(x.astype(acc), (kh, kw), strides, padding, dilation)
    weights = kernel.astype(acc).reshape(kh * kw, cg, out)
    if groups > 1 and groups == c:  # depthwise: out = c * multiplier, output o reads o // m
        m = out // c
        y = None
        for tap, wt in zip(taps, weights, strict=True):
            term = tap * wt[0] if m == 1 else (tap[..., None] * wt[0].reshape(c, m))
            y = term if y is None else y + term
        return y.reshape(*y.shape[:3], out).astype(dtype)
    y = None
    for tap, wt in zip(taps, weights, strict=True):
        if groups == 1:
            term = jnp.einsum('nhwc,co->nhwo', tap, wt)
        else:
            term = jnp.einsum(
                'nhwgc,cgo->nhwgo',
                tap.reshape(*tap.shape[:3], groups, cg),
                wt.reshape(cg, groups, out // groups),
            ).reshape(*tap.shape[:3], out)
        y = term if y is None else y + term
    return y.astype(dtype)


def conv_im2col(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int],
    padding: Padding,
    dilation: tuple[int, int],
    groups: int,
) -> jax.Array:
    """All taps gathered along a new axis, then one contraction over taps and channels.

    Dense and grouped convs contract with one matmul (batched over groups); a depthwise conv
    multiplies by its `(taps, C)` weights and sums over taps in one reduction.
    """
    kh, kw, cg, out = kernel.shape
    c = x.shape[-1]
    dtype = x.dtype
    acc = _compute_dtype(dtype)
    taps = _taps(x.astype(acc), (kh, kw), strides, padding, dilation)
    kernel = kernel.astype(acc)
    n, ho, wo, _ = taps[0].shape
    if groups > 1 and groups == c:
        m = out // c
        patches = jnp.stack(taps, axis=-2)  # (n, ho, wo, taps, c)
        if m == 1:
            y = jnp.sum(patches * kernel.reshape(kh * kw, c), axis=-2)
        else:
            y = jnp.sum(patches[..., None] * kernel.reshape(kh * kw, c, m), axis=-3)
        return y.reshape(n, ho, wo, out).astype(dtype)
    if groups == 1:
        patches = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
        y = jnp.einsum('nhwk,ko->nhwo', patches, kernel.reshape(kh * kw * cg, out))
        return y.astype(dtype)
    patches = jnp.stack(taps, axis=-2).reshape(n, ho, wo, kh * kw, groups, cg)
    y = jnp.einsum(
        'nhwtgc,tcgo->nhwgo', patches, kernel.reshape(kh * kw, cg, groups, out // groups)
    )
    return y.reshape(n, ho, wo, out).astype(dtype)


FORMS: dict[str, ConvForm] = {'xla': conv_xla, 'shift': conv_shift, 'im2col': conv_im2col}

# The CPU choice per layer kind, from experiments/conv_benchmark.py (issue 7's table).
AUTO_CPU: dict[str, str] = {
    'depthwise': 'xla',
    'pointwise': 'xla',
    'grouped': 'xla',
    'dense': 'xla',
}
# On GPU/TPU the native conv (cuDNN, the TPU's MXU) except for grouped convs: there lax.conv
# makes XLA's SPMD partitioner all-gather a batch-sharded input (openxla/xla #47945; the test
# test_xla_grouped_conv_gathers_the_batch tracks it), while the matmul form shards cleanly.
AUTO_ACCELERATOR: dict[str, str] = {
    'depthwise': 'xla',
    'pointwise': 'xla',
    'grouped': 'shift',
    'dense': 'xla',
}


# -- the setting -------------------------------------------------------------------------------

_IMPL = 'auto'


def _check(impl: str) -> str:
    if impl != 'auto' and impl not in FORMS:
        raise ValueError(f'unknown conv impl {impl!r}; choose one of: auto, {", ".join(FORMS)}')
    return impl


def set_conv_impl(impl: str) -> None:
    """Sets the conv form used by every conv traced from now on: 'auto' or a `FORMS` name."""
    global _IMPL
    _IMPL = _check(impl)


def get_conv_impl() -> str:
    """The conv form currently set ('auto' unless changed)."""
    return _IMPL


@contextlib.contextmanager
def conv_impl(impl: str) -> Iterator[None]:
    """Uses `impl` for the convs traced inside the block, then restores the previous setting."""
    global _IMPL
    previous, _IMPL = _IMPL, _check(impl)
    try:
        yield
    finally:
        _IMPL = previous


def resolve(impl: str, kind: str, backend: str | None = None) -> str:
    """The form `impl` means for a conv of `kind` on `backend` (default: JAX's default)."""
    if impl == 'auto':
        backend = backend or jax.default_backend()
        return (AUTO_CPU if backend == 'cpu' else AUTO_ACCELERATOR)[kind]
    return impl


def conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int] = (1, 1),
    padding: Padding = ((0, 0), (0, 0)),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    *,
    impl: str | None = None,
) -> jax.Array:
    """NHWC x HWIO convolution in the form `impl` (default: the process-wide setting).

    Args:
      x: `(N, H, W, C)` input.
      kernel: `(kh, kw, C / groups, O)` kernel.
      strides: `(sh, sw)`.
      padding: `((top, bottom), (left, right))` zeros added to the input.
      dilation: kernel dilation `(dh, dw)`.
      groups: feature groups; `groups == C` is depthwise (`O / C` filters per channel).
      impl: 'auto' or a `FORMS` name; None reads `get_conv_impl()`.

    Returns:
      `(N, Ho, Wo, O)`, equal to `lax.conv_general_dilated` up to float summation order.
    """
    kind = layer_kind(kernel.shape, x.shape[-1], groups)
    form = resolve(_check(impl or _IMPL), kind)
    return FORMS[form](x, kernel, tuple(strides), padding, tuple(dilation), groups)
