"""ShuffleNet v2 x0.5 and x1.0 (Ma et al. 2018, Table 5), from `ShuffleV2Unit`s.

    3x3/2 conv 24, BN, ReLU; 3x3/2 max pool                     224 -> 112 -> 56
    stage 2: 4 units, stage 3: 8 units, stage 4: 4 units; the first of each at stride 2
        widths x0.5: 48, 96, 192      x1.0: 116, 232, 464        56 -> 28 -> 14 -> 7
    1x1 conv 1024, BN, ReLU; global average pool; fc -> classes (with bias)

The layout is torchvision's, whose counts these are: bias-free convs, each followed by
BatchNorm with scale and offset; 2,278,604 parameters (x1.0) and 1,366,792 (x0.5) at 1,000
classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN
from lineage.blocks.pooling import max_pool
from lineage.blocks.shuffle import ShuffleV2Unit
from lineage.models.registry import register_model

REPEATS = (4, 8, 4)
STEM_WIDTH = 24
LAST_WIDTH = 1024
# Stage widths per model width (Table 5).
WIDTHS = {'0_5': (48, 96, 192), '1_0': (116, 232, 464)}

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'Ma et al. 2018, "ShuffleNet V2", Table 5'


class ShuffleNetV2(nnx.Module):
    """ShuffleNet v2.

    Args:
      num_classes, in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      widths: output channels of stages 2, 3, 4 (a row of `WIDTHS`).
      repeats: units per stage.
      last_width: the width of the 1x1 conv before the pool.
    """

    def __init__(
        self,
        *,
        widths: tuple[int, ...],
        num_classes: int,
        repeats: tuple[int, ...] = REPEATS,
        in_channels: int = 3,
        last_width: int = LAST_WIDTH,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if len(widths) != len(repeats) or min(repeats) < 1:
            raise ValueError(
                f'shufflenet_v2: widths {widths} and repeats {repeats} must have equal length '
                'and every repeat >= 1'
            )
        self.stem = ConvBN(in_channels, STEM_WIDTH, 3, strides=2, dtype=dtype, rngs=rngs)
        units, features = [], STEM_WIDTH
        for width, repeat in zip(widths, repeats, strict=True):
            for i in range(repeat):
                strides = 2 if i == 0 else 1
                units.append(
                    ShuffleV2Unit(features, width, strides=strides, dtype=dtype, rngs=rngs)
                )
                features = width
        self.units = nnx.List(units)
        self.last_conv = ConvBN(features, last_width, 1, dtype=dtype, rngs=rngs)
        self.head = ClassifierHead(last_width, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = max_pool(self.stem(x), 3, 2)
        for unit in self.units:
            x = unit(x)
        return self.head(self.last_conv(x))


@register_model('shufflenet_v2_x0_5', input_size=224, paper=PAPER, params=1_366_792)  # torchvision
def shufflenet_v2_x0_5(**options) -> ShuffleNetV2:
    """ShuffleNet v2 x0.5 for 224x224 inputs. Options: `repeats`, `in_channels`, `last_width`."""
    return ShuffleNetV2(widths=WIDTHS['0_5'], **options)


@register_model('shufflenet_v2_x1_0', input_size=224, paper=PAPER, params=2_278_604)  # torchvision
def shufflenet_v2_x1_0(**options) -> ShuffleNetV2:
    """ShuffleNet v2 x1.0 for 224x224 inputs. Options: `repeats`, `in_channels`, `last_width`."""
    return ShuffleNetV2(widths=WIDTHS['1_0'], **options)
