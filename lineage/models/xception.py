"""Xception (Chollet 2017, Fig. 5): entry flow, middle flow x8, exit flow.

    entry:  3x3/2 conv 32 (valid), 3x3 conv 64 (valid), BN+ReLU each      299 -> 149 -> 147
            XceptionBlock 64->128, 128->256, 256->728, each stride 2       147 -> 74 -> 37 -> 19
    middle: 8 x XceptionBlock 728->728 (three separable convs, identity)   19
    exit:   XceptionBlock 728->(728)->1024, stride 2                        10
            SeparableConv 1536, BN, ReLU; SeparableConv 2048, BN, ReLU
    head:   global average pool, (dropout), fc 2048 -> classes (with bias)

Keras `applications.Xception` layout (separable convs without bias, BatchNorm with scale and
offset after each, a bias on the fc): 22,855,952 trainable parameters at 1,000 classes, the
paper's Table 3 figure. The paper adds dropout 0.5 before the classifier for ImageNet (Sec.
4.3); the option defaults to it.

'xception_cifar' adapts the first 16x of downsampling to 32x32 inputs, as ResNet's CIFAR
variant does: a stride-1 stem with 'same' padding and a stride-1 first entry block, so the
middle flow runs at 8x8 and the exit flow ends at 4x4. The parameters are the same.

`convention='keras'` builds Keras's arithmetic: BatchNorm epsilon 1e-3 and TensorFlow's 'same'
padding, which changes the stride-2 max pools on even grids (`block3_pool`, 74 -> 37).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN
from lineage.blocks.conv_bn import Activation
from lineage.blocks.separable import SeparableConv, XceptionBlock
from lineage.models import convention_presets
from lineage.models.info import XCEPTION, Published
from lineage.models.registry import register_model

# Options matching keras.applications' weights (lineage/weights/keras.py imports them).
KERAS = {'padding': 'same_tf', 'bn_epsilon': 1e-3}
PRESETS = {'keras': KERAS}

MIDDLE_WIDTH = 728
MIDDLE_REPEATS = 8

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'Chollet 2017, "Xception", Fig. 5'


def entry_flow_block(
    in_features: int, out_features: int, *, first: bool = False, rngs: nnx.Rngs, **kwargs
) -> XceptionBlock:
    """An entry-flow block: two separable convs, stride 2; `first` skips the leading ReLU."""
    return XceptionBlock(
        in_features,
        out_features,
        reps=2,
        strides=2,
        start_with_relu=not first,
        rngs=rngs,
        **kwargs,
    )


def middle_flow_block(features: int = 728, *, rngs: nnx.Rngs, **kwargs) -> XceptionBlock:
    """A middle-flow block: three separable convs at constant width, identity residual."""
    return XceptionBlock(features, features, reps=3, rngs=rngs, **kwargs)


def exit_flow_block(
    in_features: int = 728, out_features: int = 1024, *, rngs: nnx.Rngs, **kwargs
) -> XceptionBlock:
    """The exit-flow block: 728->728->1024 separable convs, stride 2, projection residual."""
    return XceptionBlock(
        in_features, out_features, reps=2, strides=2, grow_first=False, rngs=rngs, **kwargs
    )


class Xception(nnx.Module):
    """The Xception network.

    Args:
      num_classes, in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      cifar: stride-1 'same' stem and stride-1 first entry block (32x32 inputs).
      middle_repeats: number of middle-flow blocks (8 in the paper).
      mid_act: activation between depthwise and pointwise convs (the paper's Fig. 10 ablation;
        None in the final architecture).
      dropout: dropout rate before the classifier (0.5, the paper's ImageNet setting).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        cifar: bool = False,
        middle_repeats: int = MIDDLE_REPEATS,
        mid_act: Activation = None,
        in_channels: int = 3,
        dropout: float = 0.5,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        kw = {'dtype': dtype, 'rngs': rngs}
        sep = {'mid_act': mid_act, **kw}
        padding = 'same' if cifar else 'valid'
        self.stem = nnx.List(
            [
                ConvBN(in_channels, 32, 3, strides=1 if cifar else 2, padding=padding, **kw),
                ConvBN(32, 64, 3, padding=padding, **kw),
            ]
        )
        if cifar:
            first = XceptionBlock(64, 128, reps=2, strides=1, start_with_relu=False, **sep)
        else:
            first = entry_flow_block(64, 128, first=True, **sep)
        self.entry = nnx.List(
            [first, entry_flow_block(128, 256, **sep), entry_flow_block(256, MIDDLE_WIDTH, **sep)]
        )
        # Eight identical blocks: a candidate for nnx.scan to cut compile time; kept a list.
        self.middle = nnx.List(
            [middle_flow_block(MIDDLE_WIDTH, **sep) for _ in range(middle_repeats)]
        )
        self.exit = exit_flow_block(MIDDLE_WIDTH, 1024, **sep)
        self.exit_convs = nnx.List(
            [
                SeparableConv(1024, 1536, act='relu', **sep),
                SeparableConv(1536, 2048, act='relu', **sep),
            ]
        )
        self.head = ClassifierHead(2048, num_classes, dropout=dropout, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in (*self.stem, *self.entry, *self.middle, self.exit, *self.exit_convs):
            x = layer(x)
        return self.head(x)


@register_model(
    'xception',
    input_size=299,
    paper=PAPER,
    params=22_855_952,  # Keras applications; the paper's Table 3
    published=Published(
        'Xception',
        ('22,855,952', f'{XCEPTION}, Table 3'),
        None,  # the paper gives no MACs
    ),
    keras='Xception',
    timm='legacy_xception',  # Chollet's
)
def xception(**options) -> Xception:
    """Xception for 299x299 inputs. Options: `mid_act`, `middle_repeats`, `in_channels`,
    `dropout`, and `convention` ('keras'), `padding`, `bn_epsilon`
    (`lineage.models.convention_presets`).
    """
    return convention_presets.build(Xception, PRESETS, **options)


@register_model('xception_cifar', input_size=32, paper=PAPER, params=22_855_952)
def xception_cifar(**options) -> Xception:
    """Xception for 32x32 inputs (stride-1 stem and first entry block). Options as `xception`."""
    return convention_presets.build(Xception, PRESETS, cifar=True, **options)
