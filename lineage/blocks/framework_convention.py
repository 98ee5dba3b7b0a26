"""The numerical conventions a network is built under: how 'same' pads, and BatchNorm's epsilon.

Two frameworks build the same architecture with different arithmetic, and published weights
only reproduce their accuracy under the conventions they were trained with:

- 'same' padding at stride 2. PyTorch pads `(k - 1) // 2` on each side ('symmetric', lineage's
  default). TensorFlow pads `total = max((ceil(H / s) - 1) * s + k - H, 0)` with the smaller
  half first ('same_tf'): `(0, 1)` for a 3x3 stride-2 conv on an even input, `(1, 1)` on an odd
  one. At stride 1 with an odd kernel the two agree.
- BatchNorm epsilon: 1e-5 in PyTorch and lineage; 1e-3 (Keras's default) in Keras's Xception,
  Inception v3 and MobileNets; 1.001e-5 in Keras's ResNet50.

A convention is read when a layer is *built* (`ConvBN`, and the blocks that pool), so a model
constructor sets it once for every layer inside it with `building(...)`; a built layer keeps
the convention it was built under.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

PADDINGS = ('symmetric', 'same_tf')


@dataclasses.dataclass(frozen=True)
class Convention:
    """How 'same' pads (one of `PADDINGS`) and the BatchNorm epsilon."""

    padding: str = 'symmetric'
    bn_epsilon: float = 1e-5

    def __post_init__(self):
        if self.padding not in PADDINGS:
            raise ValueError(f'padding={self.padding!r}; choose one of {", ".join(PADDINGS)}')
        if not self.bn_epsilon > 0:
            raise ValueError(f'bn_epsilon={self.bn_epsilon}; use a positive epsilon')


_current = Convention()


def current() -> Convention:
    """The convention layers built now follow."""
    return _current


def same() -> str:
    """The padding name a layer built now takes for 'same': 'same' (symmetric) or 'same_tf'."""
    return 'same' if _current.padding == 'symmetric' else 'same_tf'


@contextlib.contextmanager
def building(convention: Convention) -> Iterator[Convention]:
    """Layers built inside the block follow `convention`; the previous one is restored after."""
    global _current
    previous, _current = _current, convention
    try:
        yield convention
    finally:
        _current = previous
