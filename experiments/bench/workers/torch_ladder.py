"""The ladder (lineage/models/ladder.py) in PyTorch: one small torch module per rung's block.

The PyTorch twin that the train benchmark's ladder rows time against lineage: the same stem,
stages, head and blocks, layer for layer, with the width rules of lineage's block builders
written again here (this file runs in the peers' venv, which has torch and no jax), so that the
twin's parameter count equals lineage's per rung (tests/test_train_benchmark.py checks both
against `train_benchmark.LADDER_PARAMS`). Convs are bias-free before BatchNorm, padding is
symmetric `k // 2` (lineage's 'same'), BatchNorm momentum 0.1 (Flax's 0.9), epsilon 1e-5.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {'relu': nn.ReLU, 'relu6': nn.ReLU6, None: nn.Identity}


def conv_bn(cin, cout, k, stride=1, groups=1, act='relu', norm=True, bias=None):
    """lineage's `ConvBN`: a kxk conv (biased only without BatchNorm, unless `bias` says), BN,
    activation, as one `nn.Sequential`."""
    kh, kw = (k, k) if isinstance(k, int) else k
    bias = not norm if bias is None else bias
    conv = nn.Conv2d(cin, cout, (kh, kw), stride, (kh // 2, kw // 2), groups=groups, bias=bias)
    layers = [conv] + ([nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)] if norm else [])
    return nn.Sequential(*layers, ACTIVATIONS[act]())


class Plain(nn.Sequential):
    """Two kxk ConvBN-ReLU (lineage/blocks/plain.py)."""

    def __init__(self, cin, cout, stride, k=3):
        super().__init__(conv_bn(cin, cout, k, stride), conv_bn(cout, cout, k))


class MobileNetSeparable(nn.Sequential):
    """Two (3x3 depthwise, BN, ReLU, 1x1 pointwise, BN, ReLU), the stride on the first
    (lineage/blocks/plain.py's `mobilenet_separable`; MobileNet v1, Howard et al. 2017, Fig. 3)."""

    def __init__(self, cin, cout, stride):
        super().__init__(
            conv_bn(cin, cin, 3, stride, groups=cin),
            conv_bn(cin, cout, 1),
            conv_bn(cout, cout, 3, groups=cout),
            conv_bn(cout, cout, 1),
        )


class InvertedResidual(nn.Module):
    """1x1 expand by 6 (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear projection, + input
    (lineage/blocks/inverted_residual.py; MobileNetV2, Sandler et al. 2018)."""

    def __init__(self, cin, cout, stride, t=6):
        super().__init__()
        hidden = int(round(cin * t))
        self.body = nn.Sequential(
            conv_bn(cin, hidden, 1, act='relu6'),
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act='relu6'),
            conv_bn(hidden, cout, 1, act=None),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class Separable(nn.Module):
    """Two (ReLU, 3x3 depthwise, 1x1 pointwise, BN), a 3x3 max pool if strided, plus the input
    or its 1x1 projection (lineage/blocks/separable.py; Xception, Chollet 2017)."""

    def __init__(self, cin, cout, stride, reps=2):
        super().__init__()
        units = []
        for a, b in zip([cin] + [cout] * (reps - 1), [cout] * reps, strict=True):
            depthwise = conv_bn(a, a, 3, groups=a, act=None, norm=False, bias=False)
            units += [nn.ReLU(), depthwise, conv_bn(a, b, 1, act=None)]
        if stride != 1:
            units.append(nn.MaxPool2d(3, stride, 1))
        self.body = nn.Sequential(*units)
        project = stride != 1 or cin != cout
        self.shortcut = conv_bn(cin, cout, 1, stride, act=None) if project else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class Bottleneck(nn.Module):
    """1x1 reduce to out/4, 3x3 (strided), 1x1 expand, plus shortcut, ReLU
    (lineage/blocks/bottleneck.py; He et al. 2015, Fig. 5 right)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        mid = cout // 4
        self.body = nn.Sequential(
            conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride), conv_bn(mid, cout, 1, act=None)
        )
        project = stride != 1 or cin != cout
        self.shortcut = conv_bn(cin, cout, 1, stride, act=None) if project else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def shares(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights`, rounded down, the rest to the largest weight
    (lineage's `split_widths`, at widths where no share falls below one channel)."""
    widths = [total * w // sum(weights) for w in weights]
    widths[list(weights).index(max(weights))] += total - sum(widths)
    return widths


class Multiscale(nn.Module):
    """Conv towers `[(width, kernel), ...]` and a 3x3 pool tower over one input, concatenated;
    the stride on each tower's last layer and on the pool (lineage's `InceptionModule`)."""

    def __init__(self, cin, towers, stride, pool='max', pool_proj=None, project=None):
        super().__init__()
        self.towers = nn.ModuleList()
        for tower in towers:
            layers, width = [], cin
            for i, (w, k) in enumerate(tower):
                layers.append(conv_bn(width, w, k, stride if i == len(tower) - 1 else 1))
                width = w
            self.towers.append(nn.Sequential(*layers))
        pooling = (
            nn.MaxPool2d(3, stride, 1)
            if pool == 'max'
            else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        )
        self.pool = nn.Sequential(pooling, *([conv_bn(cin, pool_proj, 1)] if pool_proj else []))
        width = sum(tower[-1][0] for tower in towers) + (pool_proj or cin)
        self.project = conv_bn(width, project, 1) if project else nn.Identity()

    def forward(self, x):
        return self.project(torch.cat([t(x) for t in self.towers] + [self.pool(x)], dim=1))


def inception(cin, cout, stride, factorized=False):
    """GoogLeNet's Fig. 2b at 3a's proportions 2:4:1:1 (lineage/blocks/inception.py), or
    Fig. 5's factorization: the "5x5" as two 3x3 (lineage/blocks/factorized.py); max pool."""
    c1, c3, c5, pool_proj = shares(cout, (2, 4, 1, 1))
    c3r, c5r = max(1, 3 * c3 // 4), max(1, c5 // 2)
    five = [(c5r, 3), (c5, 3)] if factorized else [(c5, 5)]
    towers = [[(c1, 1)], [(c3r, 1), (c3, 3)], [(c5r, 1), *five]]
    return Multiscale(cin, towers, stride, 'max', pool_proj)


def naive_inception(cin, cout, stride):
    """Fig. 2a (lineage/blocks/inception.py): 1x1 | 3x3 | 5x5 | max pool of the input; a 1x1
    projection to `cout` when the convs cannot make up the width."""
    grow = cout - cin
    c1, c3, c5 = shares(grow if grow >= 3 else cout, (2, 4, 1))
    towers = [[(c1, 1)], [(c3, 3)], [(c5, 5)]]
    return Multiscale(cin, towers, stride, 'max', project=None if grow >= 3 else cout)


BLOCKS = {
    'plain3x3': Plain,
    'plain5x5': lambda cin, cout, stride: Plain(cin, cout, stride, k=5),
    'naive_inception': naive_inception,
    'inception': inception,
    'factorized': lambda cin, cout, stride: inception(cin, cout, stride, factorized=True),
    'bottleneck': Bottleneck,
    'separable': Separable,
    'mobilenet_separable': MobileNetSeparable,
    'inverted_residual': InvertedResidual,
}


class Ladder(nn.Sequential):
    """3x3 ConvBN-ReLU stem, stages of one block (stride 2 on each later stage's first block),
    global average pool, linear classifier (lineage/models/ladder.py)."""

    def __init__(self, block, widths, depths, num_classes, in_channels=3):
        if block not in BLOCKS:
            raise ValueError(f'no torch twin of block {block!r}; choose one of {sorted(BLOCKS)}')
        layers, width = [conv_bn(in_channels, widths[0], 3)], widths[0]
        for stage, (w, depth) in enumerate(zip(widths, depths, strict=True)):
            for i in range(depth):
                layers.append(BLOCKS[block](width, w, 2 if stage > 0 and i == 0 else 1))
                width = w
        super().__init__(
            *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)
        )
