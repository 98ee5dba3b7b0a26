"""MobileNet v2 (Sandler et al. 2018, Table 2), from `InvertedResidual` blocks.

    3x3/2 conv 32, BN, ReLU6                                              224 -> 112
    inverted residual stages (t expansion, c width, n blocks, s first stride):
      (1, 16, 1, 1) (6, 24, 2, 2) (6, 32, 3, 2) (6, 64, 4, 2)
      (6, 96, 3, 1) (6, 160, 3, 2) (6, 320, 1, 1)                         112 -> 7
    1x1 conv 1280, BN, ReLU6; global average pool; dropout 0.2; fc -> classes (with bias)

The width multiplier scales every width, rounded to a multiple of 8 (`make_divisible`), except
the last conv, which never shrinks below 1280. torchvision / Keras layout: 3,504,872 trainable
parameters at width 1.0 and 1,000 classes. `convention='keras'` sets Keras's BatchNorm epsilon
1e-3 and TensorFlow's 'same' padding for the stem and the stride-2 depthwise convs.

'mobilenet_v2_cifar' (kuangliu/pytorch-cifar) makes the stem and the first stride-2 stage
(c = 24) stride 1 for 32x32 inputs; the network then ends at 4x4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN
from lineage.blocks.inverted_residual import InvertedResidual
from lineage.models import convention_presets
from lineage.models.info import MOBILENET_V2, Published
from lineage.models.registry import register_model

# Options matching keras.applications' weights (lineage/weights/keras.py imports them).
KERAS = {'padding': 'same_tf', 'bn_epsilon': 1e-3}
PRESETS = {'keras': KERAS}

# (t, c, n, s) rows of Table 2.
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_WIDTH = 32
LAST_WIDTH = 1280

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'Sandler et al. 2018, "MobileNetV2", Table 2'


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds `value` to the nearest multiple of `divisor`, never more than 10% below it.

    The TF-slim / torchvision `_make_divisible` rule that sets every MobileNetV2 width.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class MobileNetV2(nnx.Module):
    """MobileNet v2.

    Args:
      num_classes, in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      alpha: width multiplier (0.35 to 1.4 in the paper).
      cifar: stride-1 stem and stride-1 second stage (32x32 inputs).
      dropout: dropout rate before the classifier (0.2, torchvision and Keras).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 1.0,
        cifar: bool = False,
        in_channels: int = 3,
        dropout: float = 0.2,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if alpha <= 0:
            raise ValueError(f'mobilenet_v2: alpha={alpha}; use a width multiplier > 0')
        features = make_divisible(STEM_WIDTH * alpha)
        self.stem = ConvBN(
            in_channels,
            features,
            3,
            strides=1 if cifar else 2,
            act='relu6',
            dtype=dtype,
            rngs=rngs,
        )
        blocks = []
        for index, (t, c, n, s) in enumerate(STAGES):
            width = make_divisible(c * alpha)
            if cifar and index == 1:
                s = 1  # kuangliu/pytorch-cifar: "change stride 2 -> 1 for CIFAR10"
            for i in range(n):
                blocks.append(
                    InvertedResidual(
                        features,
                        width,
                        expand_ratio=t,
                        strides=s if i == 0 else 1,
                        dtype=dtype,
                        rngs=rngs,
                    )
                )
                features = width
        self.blocks = nnx.List(blocks)
        last = make_divisible(LAST_WIDTH * max(1.0, alpha))
        self.last_conv = ConvBN(features, last, 1, act='relu6', dtype=dtype, rngs=rngs)
        self.head = ClassifierHead(last, num_classes, dropout=dropout, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.last_conv(x))


@register_model(
    'mobilenet_v2',
    input_size=224,
    paper=PAPER,
    params=3_504_872,  # torchvision and Keras, width 1.0
    published=Published(
        'MobileNet v2 (width 1.0)',
        ('3.4M', f'{MOBILENET_V2}, Table 4'),
        ('300M', f'{MOBILENET_V2}, Table 4 (MAdds)'),
    ),
    keras='MobileNetV2',
    timm='mobilenetv2_100',
)
def mobilenet_v2(**options) -> MobileNetV2:
    """MobileNet v2 for 224x224 inputs. Options: `alpha`, `in_channels`, `dropout`, and
    `convention` ('keras'), `padding`, `bn_epsilon` (`lineage.models.convention_presets`).
    """
    return convention_presets.build(MobileNetV2, PRESETS, **options)


@register_model('mobilenet_v2_cifar', input_size=32, paper=PAPER, params=3_504_872)
def mobilenet_v2_cifar(**options) -> MobileNetV2:
    """MobileNet v2 for 32x32 inputs (stride-1 stem and second stage). Options as
    `mobilenet_v2`.
    """
    return convention_presets.build(MobileNetV2, PRESETS, cifar=True, **options)
