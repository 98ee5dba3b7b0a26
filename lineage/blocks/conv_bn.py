"""The one convolution layer every block uses: conv -> BatchNorm -> activation.

Every block in `lineage.blocks` is assembled from `ConvBN`, so there is exactly one place where
a convolution is computed (`convolve`), counted (`ConvBN.macs`) and normalized. Convolutions are
bias-free when followed by BatchNorm (the BN offset plays the bias's role), as in every paper of
the lineage since Inception v2 (Ioffe & Szegedy 2015).

'same' padding is symmetric by default, `dilation * (k - 1) // 2` on each side of each spatial
axis (PyTorch's convention), so an input at stride 2 gives `ceil(H / 2)` outputs. TensorFlow and
Keras pad 'same' asymmetrically at stride 2 on even inputs (`(0, 1)` for a 3x3); a layer built
under that convention (`lineage.blocks.framework_convention`) takes 'same_tf' for 'same'.
`padding='valid'` (no padding) is there for the reference networks whose grids depend on it
(Inception v3's 299 -> 149 -> 147 stem and its 35 -> 17 -> 8 grid reductions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from lineage import layer_trace
from lineage.blocks import conv_algorithms, framework_convention

Activation = str | Callable[[jax.Array], jax.Array] | None

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': jax.nn.relu,
    'relu6': jax.nn.relu6,
    'elu': jax.nn.elu,
    'swish': jax.nn.swish,
    'gelu': jax.nn.gelu,
}

# BatchNorm running-average momentum. Flax's 0.99 equals PyTorch's 0.01; 0.9 (PyTorch's 0.1)
# tracks the statistics within the few hundred steps of a CPU-sized run.
BN_MOMENTUM = 0.9
PADDINGS = ('same', 'same_tf', 'valid')


def activation(name: Activation) -> Callable[[jax.Array], jax.Array]:
    """Returns the activation function for `name` (None or 'linear' is the identity).

    Raises:
      ValueError: naming the unknown activation and the choices.
    """
    if name is None or name == 'linear':
        return lambda x: x
    if callable(name):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(
            f'unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)} or None'
        )
    return ACTIVATIONS[name]


def pair(value: int | Sequence[int]) -> tuple[int, int]:
    """`3 -> (3, 3)`; `(1, 7) -> (1, 7)`."""
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))


def same_padding(kernel_size: tuple[int, int], dilation: tuple[int, int]) -> list[tuple[int, int]]:
    """Symmetric padding that keeps the spatial size at stride 1 for odd kernels."""
    return [
        (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
        for k, d in zip(kernel_size, dilation, strict=True)
    ]


def tf_same_padding(
    size: Sequence[int], kernel_size: tuple[int, int], strides: tuple[int, int], dilation
) -> list[tuple[int, int]]:
    """TensorFlow's 'SAME': `ceil(H / s)` outputs, the odd padded position at the end."""
    pads = []
    for h, k, s, d in zip(size, kernel_size, strides, dilation, strict=True):
        total = max((-(-h // s) - 1) * s + d * (k - 1) + 1 - h, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def padding_amounts(
    padding: str,
    size: Sequence[int],
    kernel_size: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> list[tuple[int, int]]:
    """`(lo, hi)` per spatial axis of an `(H, W)` input for a padding in `PADDINGS`."""
    if padding == 'same':
        return same_padding(kernel_size, dilation)
    if padding == 'same_tf':
        return tf_same_padding(size, kernel_size, strides, dilation)
    if padding == 'valid':
        return [(0, 0), (0, 0)]
    raise ValueError(f'padding={padding!r}; use one of {", ".join(PADDINGS)}')


def convolve(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    padding: str = 'same',
) -> jax.Array:
    """NHWC x HWIO convolution padded as `padding` (see `PADDINGS`); the single place a conv is
    computed.

    The algorithm (`lax.conv`, shifted taps, im2col) is `conv_algorithms.get_conv_impl()`:
    'auto', or a run's `config.conv_impl` inside its `conv_algorithms.conv_impl` context; all
    give the same values.
    """
    pads = padding_amounts(padding, x.shape[1:3], kernel.shape[:2], strides, dilation)
    return conv_algorithms.conv(x, kernel, strides, pads, dilation, groups)


class ConvBN(nnx.Module):
    """Conv (optionally grouped or depthwise), then BatchNorm, then an activation.

    Args:
      in_features: input channels.
      out_features: output channels.
      kernel_size: `k` or `(kh, kw)`; `(1, 7)` and `(7, 1)` give the factorized kernels of
        Inception v3 (Szegedy et al. 2015, Fig. 6).
      strides: spatial stride, `s` or `(sh, sw)`.
      groups: feature groups; `groups == in_features` is a depthwise conv (one filter per input
        channel, `out_features / in_features` of them: the depth multiplier).
      dilation: kernel dilation.
      padding: 'same' (symmetric, or TensorFlow's under a 'same_tf' convention), 'same_tf' or
        'valid' (none).
      norm: follow the conv with BatchNorm.
      act: activation name (see `ACTIVATIONS`), a callable, or None for a linear layer.
      use_bias: add a bias; defaults to `not norm`.
      dtype: computation dtype (e.g. `jnp.bfloat16`); None computes in the input's dtype.
      param_dtype: parameter dtype (float32 keeps master weights exact under bfloat16 compute).
      rngs: `nnx.Rngs` for initialization.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int] = 3,
        *,
        strides: int | Sequence[int] = 1,
        groups: int = 1,
        dilation: int | Sequence[int] = 1,
        padding: str = 'same',
        norm: bool = True,
        act: Activation = 'relu',
        use_bias: bool | None = None,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        if in_features % groups or out_features % groups:
            raise ValueError(
                f'ConvBN: groups={groups} must divide in_features={in_features} and '
                f'out_features={out_features}; pick a group count that divides both'
            )
        if padding not in PADDINGS:
            raise ValueError(f'ConvBN: padding={padding!r}; use one of {", ".join(PADDINGS)}')
        padding = framework_convention.same() if padding == 'same' else padding
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = pair(kernel_size)
        self.strides = pair(strides)
        self.dilation = pair(dilation)
        self.groups = groups
        self.padding = padding
        self.dtype = dtype
        self.act = act
        kh, kw = self.kernel_size
        shape = (kh, kw, in_features // groups, out_features)
        init = nnx.initializers.variance_scaling(2.0, 'fan_out', 'normal')  # He et al. 2015
        self.kernel = nnx.Param(init(rngs.params(), shape, param_dtype))
        use_bias = (not norm) if use_bias is None else use_bias
        self.bias = nnx.Param(jnp.zeros((out_features,), param_dtype)) if use_bias else None
        self.norm = (
            nnx.BatchNorm(
                out_features,
                momentum=BN_MOMENTUM,
                epsilon=framework_convention.current().bn_epsilon,
                dtype=dtype,
                param_dtype=param_dtype,
                rngs=rngs,
            )
            if norm
            else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        dtype = self.dtype or x.dtype
        y = convolve(
            x.astype(dtype),
            self.kernel[...].astype(dtype),
            self.strides,
            self.dilation,
            self.groups,
            self.padding,
        )
        if self.bias is not None:
            y = y + self.bias[...].astype(dtype)
        if self.norm is not None:
            y = self.norm(y)
        layer_trace.record(self, y)
        return activation(self.act)(y)

    def macs(self, output_shape: Sequence[int]) -> int:
        """Multiply-accumulates for one example producing `output_shape` (H, W, C) or NHWC."""
        h, w = output_shape[-3], output_shape[-2]
        kh, kw = self.kernel_size
        return h * w * kh * kw * (self.in_features // self.groups) * self.out_features
