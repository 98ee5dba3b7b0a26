"""Exact convolution algorithms ("forms"), and the one place that picks among them (`conv`).

XLA's CPU backend runs `lax.conv_general_dilated` slowly for depthwise, grouped and pointwise
convs and for a dense conv's kernel gradient; the same arithmetic written as shifted slices and
multiply-adds or matmuls runs on XLA's fast paths (fused element-wise loops, the CPU matmul
library), and so does its gradient (the transpose of a strided slice is a pad). The timings are
in experiments/results/conv_forms.md.

Forms (NHWC input, HWIO kernel with `I = in / groups`, explicit `(lo, hi)` padding):
- `xla`: `lax.conv_general_dilated`, the reference every other form equals.
- `shift`: one strided slice of the padded input per kernel tap; a depthwise conv multiplies
  each slice by its tap's per-channel weights and adds (its kernel gradient by a `custom_vjp`,
  `_row_sum`); any other conv multiplies each slice by its tap's `(I, O)` matrix (batched
  over groups) and adds.
- `im2col`: the slices gathered into patches, then one contraction: a matmul with the
  `(kh * kw * I, O)` kernel (batched over groups), or for a depthwise conv one multiply and
  sum over taps.
- `hybrid`: `lax.conv` for the output and the input gradient, `shift` for the kernel gradient
  (the one part of a dense conv that XLA's CPU conv runs slowly).

`auto` picks per backend, layer kind and shape (`auto_form`): on CPU the fastest form
measured (`AUTO_CPU`, by kind and input channels: layers alone in
experiments/bench/conv_benchmark.py, whole train steps in experiments/bench/profile_step.py,
which decides where the two disagree); on
TPU/GPU `lax.conv`, the vendor library's conv, except for grouped convs, which lax.conv
cannot shard by batch (`AUTO_ACCELERATOR`).
bfloat16/float16 inputs are computed in float32 and rounded once, as XLA's CPU conv does
(checked: its bfloat16 output is the float32 conv's, rounded).

The form is a process-wide setting read when a function is traced (`set_conv_impl`, or the
`conv_impl` context for one trace), so a config sets it once and every block built deep inside
a network follows; a function already jitted keeps the form it was traced with. The setting is
'auto', one form for every conv, or a form per layer kind (`{'dense': 'xla'}`; kinds left out
follow `auto`), which is how experiments.bench.profile_step tries another choice for one kind.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp

from lineage.blocks.taps import Padding, output_grid, static_padding, window_taps

# Every form's signature: (x, kernel, strides (sh, sw), padding ((lo, hi), (lo, hi)),
# dilation (dh, dw), groups) -> y.
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


def conv_xla(x: jax.Array, kernel: jax.Array, strides, padding, dilation, groups) -> jax.Array:
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


def _in_compute_dtype(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, jax.Array, jnp.dtype]:
    """`x` and `kernel` in the dtype the form accumulates in, and `x`'s dtype for the result.

    bfloat16/float16 accumulate in float32 (one rounding of the result, as XLA's CPU conv);
    float32 and float64 stay as they are.
    """
    acc = jnp.promote_types(x.dtype, jnp.float32)
    return x.astype(acc), kernel.astype(acc), x.dtype


def _group_major(x: jax.Array, kernel: jax.Array, groups: int) -> tuple[jax.Array, jax.Array]:
    """`(N, H, W, g * I)`, `(kh, kw, I, g * Og)` -> `(g, N, H, W, I)`, `(kh * kw, g, I, Og)`.

    Groups lead, so each tap's product is a batched matmul with the batch dimension first, the
    layout XLA's CPU dot runs without a transpose per tap (experiments/results/conv_forms.md).
    """
    n, h, w, c = x.shape
    kh, kw, cg, out = kernel.shape
    x = x.reshape(n, h, w, groups, cg).transpose(3, 0, 1, 2, 4)
    kernel = kernel.reshape(kh * kw, cg, groups, out // groups).transpose(0, 2, 1, 3)
    return x, kernel


def _channels_last(y: jax.Array) -> jax.Array:
    """`(g, N, Ho, Wo, Og)` -> `(N, Ho, Wo, g * Og)`."""
    g, n, ho, wo, og = y.shape
    return y.transpose(1, 2, 3, 0, 4).reshape(n, ho, wo, g * og)


def _rows_matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """`x @ w` over the last axis, with every leading axis folded into one row axis.

    A matmul over a 4-D `(N, H, W, C)` operand makes its kernel gradient contract three axes,
    which XLA's CPU backend lays out by transposing the output gradient in a strided loop; with
    the rows folded, the gradient is one 2-D dot that the CPU dot reads in place
    (experiments/results/step_profiles.md, "Before and after the row fold").
    """
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[-1])


def _depthwise_sum(taps: list[jax.Array], weights: jax.Array) -> jax.Array:
    """`sum_t taps[t] * weights[t]`: `(N, Ho, Wo, C)` taps, `(T, C, m)` weights -> `(..., C, m)`."""
    m = weights.shape[-1]
    y = None
    for tap, wt in zip(taps, weights, strict=True):
        term = (tap * wt[:, 0])[..., None] if m == 1 else tap[..., None] * wt
        y = term if y is None else y + term
    return y


def _row_sum(p: jax.Array, leaves: int = 16) -> jax.Array:
    """Sums `p` over all but its last two axes; first `leaves` row blocks pairwise, element-wise.

    A kernel gradient of a depthwise conv is a sum over every output position of (tap * ct):
    summed directly, XLA materializes each tap's slice and reduces it on its own, the slow part
    of the depthwise backward. Adding `leaves` blocks of rows element-wise first is one fused
    loop that reads the padded input in place, and leaves `1 / leaves` of the rows to the
    reduction.
    """
    rows = p.size // (p.shape[-2] * p.shape[-1])
    while rows % leaves:  # the largest power of two <= 16 that divides the rows
        leaves //= 2
    p = p.reshape(leaves, rows // leaves, *p.shape[-2:])
    while p.shape[0] > 1:
        half = p.shape[0] // 2
        p = p[:half] + p[half:]
    return jnp.sum(p[0], axis=0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _depthwise_taps(x, weights, kernel_size, strides, padding, dilation):
    return _depthwise_sum(window_taps(x, kernel_size, strides, padding, dilation), weights)


def _depthwise_taps_fwd(x, weights, kernel_size, strides, padding, dilation):
    return _depthwise_taps(x, weights, kernel_size, strides, padding, dilation), (x, weights)


def _depthwise_taps_bwd(kernel_size, strides, padding, dilation, residuals, ct):
    x, weights = residuals
    # The input gradient by autodiff: each tap's (ct * weight) padded back in place, one loop.
    _, input_vjp = jax.vjp(
        lambda x: _depthwise_sum(window_taps(x, kernel_size, strides, padding, dilation), weights),
        x,
    )
    taps = window_taps(x, kernel_size, strides, padding, dilation)
    grads = jnp.stack([_row_sum(tap[..., None] * ct) for tap in taps])
    return input_vjp(ct)[0], grads


_depthwise_taps.defvjp(_depthwise_taps_fwd, _depthwise_taps_bwd)


def conv_shift(x: jax.Array, kernel: jax.Array, strides, padding, dilation, groups) -> jax.Array:
    """Shifted slices times each tap's weights, summed over taps (see the module docstring)."""
    kh, kw, cg, out = kernel.shape
    c = x.shape[-1]
    x, kernel, dtype = _in_compute_dtype(x, kernel)
    if groups > 1 and groups == c:  # depthwise: out = c * multiplier, output o reads o // m
        weights = kernel.reshape(kh * kw, c, out // c)
        y = _depthwise_taps(
            x, weights, (kh, kw), tuple(strides), static_padding(padding), tuple(dilation)
        )
        return y.reshape(*y.shape[:3], out).astype(dtype)
    if groups == 1:
        taps = window_taps(x, (kh, kw), strides, padding, dilation)
        terms = (
            _rows_matmul(tap, wt)
            for tap, wt in zip(taps, kernel.reshape(kh * kw, cg, out), strict=True)
        )
        return functools.reduce(operator.add, terms).astype(dtype)
    x, kernel = _group_major(x, kernel, groups)
    taps = window_taps(x, (kh, kw), strides, padding, dilation)
    terms = (jnp.einsum('gnhwc,gco->gnhwo', tap, wt) for tap, wt in zip(taps, kernel, strict=True))
    return _channels_last(functools.reduce(operator.add, terms)).astype(dtype)


def conv_im2col(x: jax.Array, kernel: jax.Array, strides, padding, dilation, groups) -> jax.Array:
    """All taps gathered along channels, then one contraction over taps and channels.

    Dense and grouped convs contract with one matmul (batched over groups); a depthwise conv
    multiplies by its `(taps, C)` weights and sums over taps in one reduction.
    """
    kh, kw, cg, out = kernel.shape
    c = x.shape[-1]
    x, kernel, dtype = _in_compute_dtype(x, kernel)
    if groups > 1 and groups == c:
        m = out // c
        patches = jnp.stack(window_taps(x, (kh, kw), strides, padding, dilation), axis=-2)
        if m == 1:
            y = jnp.sum(patches * kernel.reshape(kh * kw, c), axis=-2)
        else:
            y = jnp.sum(patches[..., None] * kernel.reshape(kh * kw, c, m), axis=-3)
        return y.reshape(*y.shape[:3], out).astype(dtype)
    if groups == 1:
        patches = jnp.concatenate(window_taps(x, (kh, kw), strides, padding, dilation), axis=-1)
        return _rows_matmul(patches, kernel.reshape(kh * kw * cg, out)).astype(dtype)
    x, kernel = _group_major(x, kernel, groups)
    patches = jnp.concatenate(window_taps(x, (kh, kw), strides, padding, dilation), axis=-1)
    # (g, N, Ho, Wo, taps * I) @ (g, taps * I, Og): taps outer, channels inner, as concatenated.
    weights = kernel.transpose(1, 0, 2, 3).reshape(groups, kh * kw * cg, out // groups)
    return _channels_last(jnp.einsum('gnhwk,gko->gnhwo', patches, weights)).astype(dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _hybrid(x, kernel, strides, padding, dilation, groups):
    return conv_xla(x, kernel, strides, padding, dilation, groups)


def _hybrid_fwd(x, kernel, strides, padding, dilation, groups):
    return conv_xla(x, kernel, strides, padding, dilation, groups), (x, kernel)


def _hybrid_bwd(strides, padding, dilation, groups, residuals, ct):
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda x: conv_xla(x, kernel, strides, padding, dilation, groups), x)
    _, kernel_vjp = jax.vjp(lambda k: conv_shift(x, k, strides, padding, dilation, groups), kernel)
    return input_vjp(ct)[0], kernel_vjp(ct)[0]


_hybrid.defvjp(_hybrid_fwd, _hybrid_bwd)


def conv_hybrid(x: jax.Array, kernel: jax.Array, strides, padding, dilation, groups) -> jax.Array:
    """`lax.conv` for the output and input gradient; `shift`'s per-tap matmuls for the kernel's.

    XLA's CPU conv runs a dense conv's forward and input gradient near the machine's matmul
    speed but its kernel gradient several times slower (experiments/results/conv_forms.md). A
    `jax.custom_vjp`, so it supports reverse-mode differentiation only (no `jax.jvp`).
    """
    return _hybrid(x, kernel, tuple(strides), static_padding(padding), tuple(dilation), groups)


FORMS: dict[str, ConvForm] = {
    'xla': conv_xla,
    'shift': conv_shift,
    'im2col': conv_im2col,
    'hybrid': conv_hybrid,
}

# The CPU choice by kind, then input channels per group `I` and output positions `Ho * Wo`:
# rows `(largest I, largest Ho * Wo, form)`, the first that admits the layer wins (`None`: any).
# Shifted taps beat lax.conv for depthwise, pointwise and grouped convs; narrow dense convs on
# small grids (the ladder's) run fastest as lax.conv; wide ones, 3-channel stems and large grids
# (lax.conv's kernel gradient) as im2col. Figures and commands: experiments/results/conv_forms.md.
AUTO_CPU: dict[str, tuple[tuple[int | None, int | None, str], ...]] = {
    'depthwise': ((None, None, 'shift'),),
    'pointwise': ((None, None, 'shift'),),
    'grouped': ((None, None, 'shift'),),
    'dense': ((4, None, 'im2col'), (64, 32 * 32, 'xla'), (None, None, 'im2col')),
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

# 'auto', a FORMS name, or {kind: form} (kinds left out follow auto).
Impl = str | Mapping[str, str]
_IMPL: Impl = 'auto'


def _check(impl: Impl) -> Impl:
    choices = f'choose one of: auto, {", ".join(FORMS)}'
    if isinstance(impl, Mapping):
        for kind, form in impl.items():
            if kind not in KINDS or form not in ('auto', *FORMS):
                raise ValueError(
                    f'conv impl {kind}={form!r}: give a kind of {", ".join(KINDS)} and a form; '
                    f'{choices}'
                )
        return dict(impl)
    if impl != 'auto' and impl not in FORMS:
        raise ValueError(f'unknown conv impl {impl!r}; {choices}')
    return impl


def set_conv_impl(impl: Impl) -> None:
    """Sets the conv form used by every conv traced from now on (see `Impl`)."""
    global _IMPL
    _IMPL = _check(impl)


def get_conv_impl() -> Impl:
    """The conv form currently set ('auto' unless changed)."""
    return _IMPL


@contextlib.contextmanager
def conv_impl(impl: Impl) -> Iterator[None]:
    """Uses `impl` for the convs traced inside the block, then restores the previous setting."""
    global _IMPL
    previous, _IMPL = _IMPL, _check(impl)
    try:
        yield
    finally:
        _IMPL = previous


def auto_form(
    kind: str, backend: str | None = None, in_features: int = 0, positions: int = 0
) -> str:
    """The form `auto` picks on `backend` ('cpu', 'gpu', ...; None: JAX's default) for a conv of
    `kind` (`layer_kind(...)`) with `in_features` input channels per group and `positions`
    output positions per image (`Ho * Wo`), the keys of `AUTO_CPU`'s rows."""
    backend = backend or jax.default_backend()
    if backend != 'cpu':
        return AUTO_ACCELERATOR[kind]
    fits = lambda n, most: most is None or n <= most  # noqa: E731
    rows = AUTO_CPU[kind]
    return next(f for i, p, f in rows if fits(in_features, i) and fits(positions, p))


def conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int] = (1, 1),
    padding: Padding = ((0, 0), (0, 0)),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    *,
    impl: Impl | None = None,
) -> jax.Array:
    """NHWC x HWIO convolution in the form `impl` (default: the process-wide setting).

    Args:
      x: `(N, H, W, C)` input.
      kernel: `(kh, kw, C / groups, O)` kernel.
      strides: `(sh, sw)`.
      padding: `((top, bottom), (left, right))` zeros added to the input.
      dilation: kernel dilation `(dh, dw)`.
      groups: feature groups; `groups == C` is depthwise (`O / C` filters per channel).
      impl: 'auto', a `FORMS` name or `{kind: form}`; None reads `get_conv_impl()`.

    Returns:
      `(N, Ho, Wo, O)`, equal to `lax.conv_general_dilated` up to float summation order.
    """
    form = _check(impl or _IMPL)
    if not isinstance(form, str) or form == 'auto':
        kind = layer_kind(kernel.shape, x.shape[-1], groups)
        form = form.get(kind, 'auto') if isinstance(form, dict) else 'auto'
        if form == 'auto':
            ho, wo = output_grid(x.shape[1:3], kernel.shape[:2], strides, padding, dilation)
            form = auto_form(kind, in_features=kernel.shape[2], positions=ho * wo)
    return FORMS[form](x, kernel, tuple(strides), padding, tuple(dilation), groups)
