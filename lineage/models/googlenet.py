"""GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going deeper with convolutions", Table 1).

    stem:  7x7/2 conv 64; 3x3/2 max pool; 1x1 conv 64; 3x3 conv 192; 3x3/2 max pool  224 -> 28
    3a, 3b; 3x3/2 max pool                                                        28 -> 14
    4a, 4b, 4c, 4d, 4e; 3x3/2 max pool                                            14 -> 7
    5a, 5b; global average pool; dropout 0.4; fc 1024 -> classes                  7

The `Inception` modules take Table 1's widths; their 5x5 towers are 5x5 (torchvision's
`googlenet` has 3x3 there, pytorch/vision#906: 6,624,904 parameters). BatchNorm follows every
(bias-free) conv in place of the paper's local response normalization, as in Inception v2 and
torchvision: 7,005,832 parameters at 1,000 classes.

`aux_logits=True` adds the paper's two auxiliary classifiers on 4a and 4d (5x5/3 average pool,
1x1 conv 128, fc 1024, dropout 0.7, fc classes; 6,379,984 parameters more at 1,000 classes). In
training mode the model then returns `(logits, aux1, aux2)`; the paper weights the auxiliary
losses by 0.3. In eval mode it returns the logits alone.

'googlenet_cifar' is kuangliu/pytorch-cifar's CIFAR-size GoogLeNet: one 3x3 conv 192 as the
stem and no downsampling before 3a, so a 32x32 image meets 3a at 32x32, 4a at 16x16 (where
the auxiliary heads' pool also gives 4x4) and 5a at 8x8. Its 5x5 towers stay 5x5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN, Dense
from lineage.blocks.inception import Inception
from lineage.blocks.pooling import avg_pool, max_pool
from lineage.models.info import GOOGLENET, INCEPTION_V3, Published
from lineage.models.registry import register_model

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE_1 = {
    '3a': (64, 96, 128, 16, 32, 32),
    '3b': (128, 128, 192, 32, 96, 64),
    '4a': (192, 96, 208, 16, 48, 64),
    '4b': (160, 112, 224, 24, 64, 64),
    '4c': (128, 128, 256, 24, 64, 64),
    '4d': (112, 144, 288, 32, 64, 64),
    '4e': (256, 160, 320, 32, 128, 128),
    '5a': (256, 160, 320, 32, 128, 128),
    '5b': (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = ('3b', '4e')  # 3x3/2 max pools between the stages
AUX_AFTER = ('4a', '4d')

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = 'Szegedy et al. 2014, "Going deeper with convolutions", Table 1'


class AuxHead(nnx.Module):
    """The paper's auxiliary classifier: 5x5/3 avg pool, 1x1 conv 128, fc 1024, dropout 0.7, fc.

    It flattens a 4x4 grid (14x14 at 224 input, or the CIFAR variant's 16x16), as the paper does.
    """

    def __init__(self, in_features, num_classes, *, dtype, rngs):
        self.conv = ConvBN(in_features, 128, 1, dtype=dtype, rngs=rngs)
        self.fc1 = Dense(4 * 4 * 128, 1024, dtype=dtype, rngs=rngs)
        self.dropout = nnx.Dropout(0.7, rngs=rngs)
        self.fc2 = Dense(1024, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv(avg_pool(x, 5, 3, 'valid'))
        if x.shape[1:3] != (4, 4):
            raise ValueError(
                f'GoogLeNet aux head: pooled grid is {x.shape[1:3]}, the fc needs 4x4; use '
                '224x224 inputs (32x32 for googlenet_cifar) or aux_logits=False'
            )
        x = jax.nn.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc2(self.dropout(x)).astype(jnp.float32)


class GoogLeNet(nnx.Module):
    """GoogLeNet with BatchNorm.

    Args:
      num_classes, in_channels, dtype, rngs: as for every model (`lineage/models/registry.py`).
      cifar_stem: one 3x3 conv 192 and no early downsampling (32x32 inputs).
      aux_logits: add the two auxiliary classifiers (returned in training mode).
      dropout: dropout before the classifier (0.4 in the paper).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        cifar_stem: bool = False,
        aux_logits: bool = False,
        dropout: float = 0.4,
        in_channels: int = 3,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, rngs=rngs)
        if cifar_stem:
            stem = [ConvBN(in_channels, 192, 3, **kw)]
        else:
            stem = [
                ConvBN(in_channels, 64, 7, strides=2, **kw),
                ConvBN(64, 64, 1, **kw),
                ConvBN(64, 192, 3, **kw),
            ]
        self.stem = nnx.List(stem)
        # The 224 stem pools after its first and last conv (224 -> 112 -> 56 -> 28).
        self.stem_pools = () if cifar_stem else (0, 2)
        modules, features = [], 192
        for widths in TABLE_1.values():
            modules.append(Inception(features, *widths, **kw))
            features = modules[-1].out_features
        self.inception = nnx.List(modules)
        widths = {name: m.out_features for name, m in zip(TABLE_1, modules, strict=True)}
        self.aux = (
            nnx.List([AuxHead(widths[name], num_classes, **kw) for name in AUX_AFTER])
            if aux_logits
            else None
        )
        self.head = ClassifierHead(features, num_classes, dropout=dropout, **kw)

    def __call__(self, x: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array, jax.Array]:
        for i, conv in enumerate(self.stem):
            x = conv(x)
            if i in self.stem_pools:
                x = max_pool(x, 3, 2)
        # BatchNorm holds the mode that model.train() / model.eval() set everywhere; the
        # auxiliary heads run in training mode only.
        training = self.aux is not None and not self.aux[0].conv.norm.use_running_average
        aux = []
        for name, module in zip(TABLE_1, self.inception, strict=True):
            x = module(x)
            if training and name in AUX_AFTER:
                aux.append(self.aux[AUX_AFTER.index(name)](x))
            if name in POOL_AFTER:
                x = max_pool(x, 3, 2)
        logits = self.head(x)
        return (logits, *aux) if training else logits


@register_model(
    'googlenet',
    input_size=224,
    paper=PAPER,
    params=7_005_832,  # torchvision's 6,624,904 + 380,928: 5x5 (not 3x3) towers
    published=Published(
        'GoogLeNet',
        ('5M', f'{INCEPTION_V3}, Sec. 1: "GoogLeNet employed only 5 million parameters"'),
        ('1.5G', f'{GOOGLENET}, Sec. 1: "a computational budget of 1.5 billion multiply-adds"'),
        note="ours keeps the paper's 5x5 towers (torchvision's googlenet has 3x3 there) and puts "
        'BatchNorm after every conv',
        aux=True,
    ),
)
def googlenet(**options) -> GoogLeNet:
    """GoogLeNet for 224x224 inputs. Options: `aux_logits`, `dropout`, `in_channels`."""
    return GoogLeNet(**options)


@register_model('googlenet_cifar', input_size=32, paper=PAPER, params=6_886_664)  # 3x3 stem
def googlenet_cifar(**options) -> GoogLeNet:
    """GoogLeNet for 32x32 inputs (3x3 stem, no early downsampling). Options as `googlenet`."""
    return GoogLeNet(cifar_stem=True, **options)
