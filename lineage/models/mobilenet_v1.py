"""MobileNet v1 (Howard et al. 2017, "MobileNets", Table 1), from `SeparableConv` layers.

    3x3/2 conv 32, BN, ReLU                                               224 -> 112
    13 depthwise separable convs (3x3 depthwise, BN, ReLU; 1x1, BN, ReLU):
      64, 128/2, 128, 256/2, 256, 512/2, 5 x 512, 1024/2, 1024             112 -> 7
    global average pool, dropout 0.001, classifier 1024 -> classes (with bias)

The width multiplier alpha thins every layer to `int(alpha * width)` channels (Sec. 3.3).
Keras `applications.MobileNet` layout: bias-free convs, BatchNorm with scale and offset after
each depthwise and pointwise conv, a 1x1 conv *with* bias as classifier (a dense layer on the
pooled features, 1,025,000 parameters): 4,231,976 trainable parameters at alpha 1.0 and 1,000
classes. Keras uses ReLU6; the paper's Fig. 3 says ReLU, the default here (`act` option).
`convention='keras'` sets ReLU6, BatchNorm epsilon 1e-3 and TensorFlow's 'same' padding (Keras
pads its stride-2 convs `(0, 1)`, which 'same_tf' equals on the even grids of 224x224 inputs).

'mobilenet_v1_cifar' (kuangliu/pytorch-cifar) makes the stem stride 1 for 32x32 inputs; the
separable stack then ends at 2x2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN
from lineage.blocks.conv_bn import Activation
from lineage.blocks.separable import SeparableConv
from lineage.models import convention_presets
from lineage.models.info import MOBILENET, Published
from lineage.models.registry import register_model

# Options matching keras.applications' weights (lineage/weights/keras.py imports them).
KERAS = {'padding': 'same_tf', 'bn_epsilon': 1e-3, 'act': 'relu6'}
PRESETS = {'keras': KERAS}

# (output width, stride) of the 13 depthwise separable layers, Table 1.
LAYERS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *[(512, 1)] * 5,
    (1024, 2),
    (1024, 1),
)

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'Howard et al. 2017, "MobileNets", Table 1'


class MobileNetV1(nnx.Module):
    """MobileNet v1.

    Args:
      num_classes, in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      alpha: width multiplier (1.0, 0.75, 0.5, 0.25 in the paper).
      stem_stride: 2 for 224x224 inputs, 1 for 32x32.
      act: activation after every conv ('relu' as in the paper; Keras uses 'relu6').
      dropout: dropout rate before the classifier (Keras: 0.001).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 1.0,
        stem_stride: int = 2,
        act: Activation = 'relu',
        in_channels: int = 3,
        dropout: float = 1e-3,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if int(32 * alpha) < 1:  # the narrowest layer, the 32-channel stem, keeps a channel
            raise ValueError(f'mobilenet_v1: alpha={alpha} leaves layers no channels; use >= 1/32')
        features = int(32 * alpha)
        kw = dict(dtype=dtype, rngs=rngs)
        self.stem = ConvBN(in_channels, features, 3, strides=stem_stride, act=act, **kw)
        layers = []
        for width, strides in LAYERS:
            width = int(width * alpha)
            layers.append(
                SeparableConv(
                    features, width, 3, strides=strides, mid_norm=True, mid_act=act, act=act, **kw
                )
            )
            features = width
        self.layers = nnx.List(layers)
        self.head = ClassifierHead(features, num_classes, dropout=dropout, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


@register_model(
    'mobilenet_v1',
    input_size=224,
    paper=PAPER,
    params=4_231_976,  # Keras applications, alpha 1.0
    published=Published(
        'MobileNet v1 (alpha 1.0)',
        ('4.2M', f'{MOBILENET}, Table 8'),
        ('569M', f'{MOBILENET}, Table 8 (Mult-Adds)'),
    ),
    keras='MobileNet',
)
def mobilenet_v1(**options) -> MobileNetV1:
    """MobileNet v1 for 224x224 inputs. Options: `alpha`, `act`, `in_channels`, `dropout`,
    and `convention` ('keras'), `padding`, `bn_epsilon` (`lineage.models.convention_presets`).
    """
    return convention_presets.build(MobileNetV1, PRESETS, **options)


@register_model('mobilenet_v1_cifar', input_size=32, paper=PAPER, params=4_231_976)
def mobilenet_v1_cifar(**options) -> MobileNetV1:
    """MobileNet v1 for 32x32 inputs (stride-1 stem). Options as `mobilenet_v1`."""
    return convention_presets.build(MobileNetV1, PRESETS, stem_stride=1, **options)
