"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016, Table 1; 1.1 from the authors' repository).

    1.0: 7x7/2 conv 96 (valid), maxpool 3x3/2               224 -> 109 -> 54
         fire2-4 (16, 64, 64) (16, 64, 64) (32, 128, 128), maxpool      54 -> 27
         fire5-8 (32, 128, 128) (48, 192, 192) (48, 192, 192) (64, 256, 256), maxpool 27 -> 13
         fire9 (64, 256, 256)
    1.1: 3x3/2 conv 64 (valid), maxpool                      224 -> 111 -> 55
         fire2-3 (16, 64, 64) x2, maxpool; fire4-5 (32, 128, 128) x2, maxpool    55 -> 27 -> 13
         fire6-9 (48, 192, 192) x2, (64, 256, 256) x2
    both: dropout 0.5, 1x1 conv -> classes (ReLU), global average pool: the logits

Fire widths are (squeeze, 1x1 expand, 3x3 expand). 1.1 moves the pools earlier and shrinks the
stem: 2.4x fewer MACs for the same accuracy (the SqueezeNet repository's v1.1 notes).

The layout is torchvision's, whose counts these are: convs with biases and no BatchNorm,
1,248,424 parameters (1.0) and 1,235,496 (1.1) at 1,000 classes. The max pools round up
(Caffe's pooling, torchvision's `ceil_mode=True`): 109 -> 54, but 55 -> 27 and 27 -> 13.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.fire import Fire
from lineage.blocks.pooling import max_pool
from lineage.models.registry import register_model

# Per version: stem (width, kernel), then the sequence of Fire (s, e1, e3) rows and 'pool'.
VERSIONS = {
    '1_0': (
        (96, 7),
        [(16, 64, 64), (16, 64, 64), (32, 128, 128), 'pool',
         (32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256), 'pool',
         (64, 256, 256)],
    ),
    '1_1': (
        (64, 3),
        [(16, 64, 64), (16, 64, 64), 'pool',
         (32, 128, 128), (32, 128, 128), 'pool',
         (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)],
    ),
}  # fmt: skip

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'Iandola et al. 2016, "SqueezeNet", Table 1 (1.1: the authors\' repository)'


def ceil_max_pool(x: jax.Array, window: int = 3, strides: int = 2) -> jax.Array:
    """Max pool without padding whose last window may overhang the input (`ceil_mode=True`).

    Output size `ceil((H - window) / strides) + 1`; the overhang holds -inf, so it never wins.
    """
    h, w = x.shape[1:3]
    if min(h, w) < window:
        raise ValueError(f'squeezenet: a {h}x{w} map is smaller than the {window}x{window} pool')
    bottom, right = (math.ceil((n - window) / strides) * strides + window - n for n in (h, w))
    pads = [(0, 0), (0, bottom), (0, right), (0, 0)]
    x = jnp.pad(x, pads, constant_values=np.array(-np.inf, x.dtype))
    return max_pool(x, window, strides, padding='valid')


class SqueezeNet(nnx.Module):
    """SqueezeNet 1.0 or 1.1, bias convs without BatchNorm (torchvision's layout).

    Args:
      in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      version: '1_0' or '1_1'.
      num_classes: classifier outputs (the width of the last 1x1 conv).
      dropout: dropout rate before the classifier conv (0.5 in the paper).
    """

    def __init__(
        self,
        *,
        version: str,
        num_classes: int,
        in_channels: int = 3,
        dropout: float = 0.5,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if version not in VERSIONS:
            raise ValueError(f'squeezenet: version={version!r}; use one of {sorted(VERSIONS)}')
        (stem_width, stem_kernel), layout = VERSIONS[version]
        conv = dict(norm=False, use_bias=True, dtype=dtype, rngs=rngs)
        self.stem = ConvBN(in_channels, stem_width, stem_kernel, strides=2, padding='valid', **conv)
        fires, pool_after, features = [], [], stem_width
        for row in layout:
            if row == 'pool':  # a ceil-mode 3x3/2 max pool after the last Fire so far
                pool_after.append(len(fires) - 1)
                continue
            fires.append(Fire(features, *row, norm=False, dtype=dtype, rngs=rngs))
            features = row[1] + row[2]
        self.fires = nnx.List(fires)
        self.pool_after = tuple(pool_after)
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None
        self.classifier = ConvBN(features, num_classes, 1, **conv)
        # torchvision initializes this conv from N(0, 0.01): the logits start near zero.
        self.classifier.kernel[...] = 0.01 * jax.random.normal(
            rngs.params(), self.classifier.kernel.shape, self.classifier.kernel.dtype
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = ceil_max_pool(self.stem(x))
        for index, fire in enumerate(self.fires):
            x = fire(x)
            if index in self.pool_after:
                x = ceil_max_pool(x)
        if self.dropout is not None:
            x = self.dropout(x)
        # ReLU before the pool, as the paper's conv10; logits in float32 for the loss.
        return jnp.mean(self.classifier(x), axis=(1, 2)).astype(jnp.float32)


@register_model('squeezenet1_0', input_size=224, paper=PAPER, params=1_248_424)  # torchvision
def squeezenet1_0(**options) -> SqueezeNet:
    """SqueezeNet 1.0 for 224x224 inputs. Options: `in_channels`, `dropout`."""
    return SqueezeNet(version='1_0', **options)


@register_model('squeezenet1_1', input_size=224, paper=PAPER, params=1_235_496)  # torchvision
def squeezenet1_1(**options) -> SqueezeNet:
    """SqueezeNet 1.1 for 224x224 inputs. Options: `in_channels`, `dropout`."""
    return SqueezeNet(version='1_1', **options)
