"""ResNet-50 (He et al. 2015, "Deep Residual Learning", Table 1), from `Bottleneck` blocks.

    stem:   7x7/2 conv 64, BN, ReLU; 3x3/2 max pool                    224 -> 56
    conv2_x: 3 bottlenecks, 256 wide (mid 64), stride 1                   56
    conv3_x: 4 bottlenecks, 512 wide (mid 128), first stride 2            28
    conv4_x: 6 bottlenecks, 1024 wide (mid 256), first stride 2           14
    conv5_x: 3 bottlenecks, 2048 wide (mid 512), first stride 2            7
    head:   global average pool, fc 2048 -> classes (with bias)

torchvision's layout (stride on the 3x3 conv, "v1.5"; projection shortcuts only where the shape
changes; BatchNorm scale and offset; fc bias): 25,557,032 parameters at 1,000 classes.
Keras's `ResNet50` is v1 (`stride_in='1x1'`) with BatchNorm epsilon 1.001e-5 and biases on its
convs, which fold exactly into the BatchNorm means when its weights are imported: the
`convention='keras'` preset.

'resnet50_cifar' is the CIFAR-size network of kuangliu/pytorch-cifar: a 3x3 stride-1 stem and no
max pool, so a 32x32 image reaches the stages at 32x32 and leaves them at 4x4.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN, framework_convention
from lineage.blocks.bottleneck import EXPANSION, Bottleneck
from lineage.blocks.pooling import max_pool
from lineage.models import convention_presets
from lineage.models.info import RESNET, TORCHVISION, Published
from lineage.models.registry import register_model

# Options matching keras.applications' weights (lineage/weights/keras.py imports them).
KERAS = {'bn_epsilon': 1.001e-5, 'stride_in': '1x1'}
PRESETS = {'keras': KERAS}

RESNET50_DEPTHS = (3, 4, 6, 3)

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'He et al. 2015, "Deep Residual Learning", Table 1'


class ResNet(nnx.Module):
    """A bottleneck ResNet: stem, four stages of `Bottleneck`s, classifier head.

    Args:
      num_classes, in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      depths: bottlenecks per stage; (3, 4, 6, 3) is ResNet-50.
      stride_in: the bottlenecks' strided conv, '3x3' (v1.5) or '1x1' (v1); see `Bottleneck`.
      cifar_stem: 3x3 stride-1 stem and no max pool (32x32 inputs) instead of 7x7/2 + pool.
      dropout: dropout rate before the classifier (0 in the paper).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        depths: Sequence[int] = RESNET50_DEPTHS,
        stride_in: str = '3x3',
        cifar_stem: bool = False,
        dropout: float = 0.0,
        in_channels: int = 3,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        stem_width = 64
        if cifar_stem:
            self.stem = ConvBN(in_channels, stem_width, 3, dtype=dtype, rngs=rngs)
        else:
            self.stem = ConvBN(in_channels, stem_width, 7, strides=2, dtype=dtype, rngs=rngs)
        self.depths = tuple(depths)
        self.stem_pool = None if cifar_stem else framework_convention.same()  # the pool's padding
        blocks = []
        features = stem_width
        for stage, depth in enumerate(depths):
            width = stem_width * 2**stage * EXPANSION
            for i in range(depth):
                strides = 2 if stage > 0 and i == 0 else 1
                blocks.append(
                    Bottleneck(
                        features,
                        width,
                        strides=strides,
                        stride_in=stride_in,
                        dtype=dtype,
                        rngs=rngs,
                    )
                )
                features = width
        # Identical blocks within a stage could be scanned to cut compile time; kept a list.
        self.blocks = nnx.List(blocks)
        self.head = ClassifierHead(features, num_classes, dropout=dropout, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.stem(x)
        if self.stem_pool:
            x = max_pool(x, 3, 2, self.stem_pool)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@register_model(
    'resnet50',
    input_size=224,
    paper=PAPER,
    params=25_557_032,  # torchvision
    published=Published(
        'ResNet-50',
        ('25,557,032', f'{TORCHVISION} (the paper gives no count)'),
        ('3.8G', f'{RESNET}, Table 1 ("FLOPs", counted as multiply-adds)'),
        # Each of the 3 downsampling bottlenecks runs its 1x1 reduce at the input grid instead
        # of the output grid: 56*56*256*128 - 28*28*256*128 = 77,070,336 MACs, the same at
        # every stage (channels double as the grid halves).
        note='ours is v1.5 (stride on the 3x3, as torchvision), 3 x 77.07M = 231M MACs more '
        "than the paper's stride-on-the-1x1 layout",
    ),
    keras='ResNet50',
    timm='resnet50',
)
def resnet50(**options) -> ResNet:
    """ResNet-50 for 224x224 inputs. Options: `in_channels`, `dropout`, `stride_in`,
    and `convention` ('keras'), `padding`, `bn_epsilon` (`lineage.models.convention_presets`).
    """
    return convention_presets.build(ResNet, PRESETS, **options)


@register_model('resnet50_cifar', input_size=32, paper=PAPER, params=25_549_352)  # 3x3 stem
def resnet50_cifar(**options) -> ResNet:
    """ResNet-50 for 32x32 inputs: 3x3 stride-1 stem, no max pool. Options as `resnet50`."""
    return convention_presets.build(ResNet, PRESETS, cifar_stem=True, **options)
