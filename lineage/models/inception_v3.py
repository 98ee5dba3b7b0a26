"""Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture", Table 1).

    stem: 3x3/2 conv 32, 3x3 conv 32, 3x3 conv 64, 3x3/2 max pool,
          1x1 conv 80, 3x3 conv 192, 3x3/2 max pool              299 -> 35 (valid padding)
    3 x Fig. 5 modules (Mixed_5b-d)                                35x35, 256 / 288 / 288 wide
    Fig. 10 grid reduction (Mixed_6a)                              35 -> 17, 768 wide
    4 x Fig. 6 modules, n = 7 (Mixed_6b-e)                         17x17, 768 wide
    Fig. 10 grid reduction (Mixed_7a)                              17 -> 8, 1280 wide
    2 x Fig. 7 modules (Mixed_7b-c)                                8x8, 2048 wide
    global average pool, dropout 0.5, fc 2048 -> classes

The widths follow the reference code (TF-slim `inception_v3`, Keras applications, torchvision
`Inception3`), which differs from the paper's figures in a few places that the parameter count
depends on: the 35x35 modules keep a 1x1 -> 5x5 tower beside the double 3x3 one, and the first
grid reduction's 3x3 tower has no 1x1 reduction (see `FactorizedInception`, `GridReduction`).
Two layers differ from the reference code by default. BatchNorm has scale and offset
(torchvision's layout; Keras drops the scale, which an import sets to 1): 23,834,568
parameters at 1,000 classes, 27,161,264 with the auxiliary head. The 17x17 modules' double 7x7
tower runs 1x7 -> 7x1 -> 1x7 -> 7x1 as in Fig. 6; the reference code runs 7x1 first
(`double_first='nx1'`), with the same parameters. `convention='keras'` sets that order and
Keras's BatchNorm epsilon 1e-3.

`aux_logits=True` adds the auxiliary classifier on the 17x17 grid (5x5/3 avg pool, 1x1 conv 128,
5x5 conv 768, fc; the paper's Sec. 4 uses it as a regularizer). In training mode the model then
returns `(logits, aux)`; in eval mode the logits alone.

'inception_v3_cifar' keeps every module and replaces the stem with five stride-1 'same' convs of
the same widths and no pools, as CIFAR ports of the network do: a 32x32 image meets the 35x35
modules at 32x32 and the grid reductions ('same' padding) halve it to 16 and 8.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN
from lineage.blocks.factorized import FactorizedInception, GridReduction
from lineage.blocks.pooling import avg_pool, max_pool
from lineage.models import convention_presets
from lineage.models.info import INCEPTION_V3, Published
from lineage.models.registry import register_model

# Options matching keras.applications' weights (lineage/weights/keras.py imports them).
KERAS = {'bn_epsilon': 1e-3, 'double_first': 'nx1'}
PRESETS = {'keras': KERAS}

# The stem: (out, kernel, stride, padding) per conv, and the convs a 3x3/2 max pool follows.
STEM = (
    (32, 3, 2, 'valid'),
    (32, 3, 1, 'valid'),
    (64, 3, 1, 'same'),
    (80, 1, 1, 'valid'),
    (192, 3, 1, 'valid'),
)
STEM_POOL_AFTER = (2, 4)

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'Szegedy et al. 2015, "Rethinking the Inception Architecture", Table 1'


def mixed_modules(padding: str, kw: dict, double_first: str = '1xn') -> list[nnx.Module]:
    """Mixed_5b .. Mixed_7c; `padding` is the grid reductions' ('valid' in the reference),
    `double_first` the 17x17 modules' double 7x7 tower order ('1xn' or 'nx1')."""

    def fig5(in_features, pool_proj):  # torchvision InceptionA
        return FactorizedInception(
            in_features, 64, 48, 64, 64, 96, pool_proj, c5m=96, single_kernel=5, **kw
        )

    def fig6(c7):  # torchvision InceptionC
        return FactorizedInception(
            768,
            192,
            c7,
            192,
            c7,
            192,
            192,
            factorization='asymmetric',
            n=7,
            double_first=double_first,
            **kw,
        )

    def fig7(in_features):  # torchvision InceptionE
        return FactorizedInception(
            in_features, 320, 384, 768, 448, 768, 192, c5m=384, factorization='expanded', **kw
        )

    return [
        fig5(192, 32),
        fig5(256, 64),
        fig5(288, 64),
        GridReduction(288, 0, 384, 64, 96, 96, padding=padding, **kw),  # InceptionB
        fig6(128),
        fig6(160),
        fig6(160),
        fig6(192),
        GridReduction(
            768, 192, 320, 192, 192, 192, factorization='asymmetric', n=7, padding=padding, **kw
        ),  # InceptionD
        fig7(1280),
        fig7(2048),
    ]


AUX_AFTER = 7  # the auxiliary head reads Mixed_6e's 17x17x768 output


class AuxHead(nnx.Module):
    """Inception v3's auxiliary classifier: 5x5/3 avg pool, 1x1 conv 128, 5x5 conv 768, fc.

    At 299 input the 17x17 grid pools to 5x5 and the 'valid' 5x5 conv reduces it to 1x1. With
    `padding='same'` (the CIFAR variant's 16x16 grid) both keep a 6x6 grid, which the head's
    global average pool then reduces, like torchvision's adaptive pool.
    """

    def __init__(self, in_features, num_classes, *, padding, dtype, rngs):
        self.padding = padding
        self.conv0 = ConvBN(in_features, 128, 1, dtype=dtype, rngs=rngs)
        self.conv1 = ConvBN(128, 768, 5, padding=padding, dtype=dtype, rngs=rngs)
        self.head = ClassifierHead(768, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.conv1(self.conv0(avg_pool(x, 5, 3, self.padding))))


class InceptionV3(nnx.Module):
    """Inception v3.

    Args:
      num_classes, in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      cifar_stem: stride-1 'same' stem without pools and 'same' grid reductions (32x32 inputs).
      aux_logits: add the auxiliary classifier (returned in training mode).
      double_first: the 17x17 modules' double 7x7 tower starts with '1xn' (Fig. 6) or 'nx1'
        (the reference code).
      dropout: dropout before the classifier (0.5 in the reference code).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        cifar_stem: bool = False,
        aux_logits: bool = False,
        double_first: str = '1xn',
        dropout: float = 0.5,
        in_channels: int = 3,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, rngs=rngs)
        padding = 'same' if cifar_stem else 'valid'
        stem, features = [], in_channels
        for out, kernel, stride, pad in STEM:
            if cifar_stem:
                stride, pad = 1, 'same'
            stem.append(ConvBN(features, out, kernel, strides=stride, padding=pad, **kw))
            features = out
        self.stem = nnx.List(stem)
        self.stem_pools = () if cifar_stem else STEM_POOL_AFTER
        self.mixed = nnx.List(mixed_modules(padding, kw, double_first))
        self.aux = AuxHead(768, num_classes, padding=padding, **kw) if aux_logits else None
        self.head = ClassifierHead(2048, num_classes, dropout=dropout, **kw)

    def __call__(self, x: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        for i, conv in enumerate(self.stem):
            x = conv(x)
            if i in self.stem_pools:
                x = max_pool(x, 3, 2, 'valid')
        # BatchNorm holds the mode that model.train() / model.eval() set everywhere; the
        # auxiliary head runs in training mode only.
        training = self.aux is not None and not self.aux.conv0.norm.use_running_average
        aux = None
        for i, module in enumerate(self.mixed):
            x = module(x)
            if i == AUX_AFTER and training:
                aux = self.aux(x)
        logits = self.head(x)
        return (logits, aux) if training else logits


@register_model(
    'inception_v3',
    input_size=299,
    paper=PAPER,
    params=23_834_568,  # torchvision, Keras (27,161,264 with the auxiliary head)
    published=Published(
        'Inception v3',
        ('< 25M', f'{INCEPTION_V3}, abstract: "less than 25 million parameters"'),
        ('5G', f'{INCEPTION_V3}, abstract: "5 billion multiply-adds per inference"'),
        aux=True,
    ),
    keras='InceptionV3',
    timm='inception_v3',
)
def inception_v3(**options) -> InceptionV3:
    """Inception v3 for 299x299 inputs. Options: `aux_logits`, `dropout`, `in_channels`,
    `double_first`, and `convention` ('keras'), `padding`, `bn_epsilon`
    (`lineage.models.convention_presets`).
    """
    return convention_presets.build(InceptionV3, PRESETS, **options)


@register_model('inception_v3_cifar', input_size=32, paper=PAPER, params=23_834_568)
def inception_v3_cifar(**options) -> InceptionV3:
    """Inception v3 for 32x32 inputs (stride-1 stem, no stem pools). Options as `inception_v3`."""
    return convention_presets.build(InceptionV3, PRESETS, cifar_stem=True, **options)
