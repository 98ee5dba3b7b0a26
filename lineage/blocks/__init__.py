"""The lineage blocks, one file per stage; importing this registers them."""

from lineage.blocks.conv import ConvBN
from lineage.blocks.head import ClassifierHead, Dense
from lineage.blocks.registry import block_names, build_block, register_block

__all__ = ['ClassifierHead', 'ConvBN', 'Dense', 'block_names', 'build_block', 'register_block']

# Block modules register themselves on import.
from lineage.blocks import (
    bottleneck,  # noqa: E402,F401
    factorized,  # noqa: E402,F401
    fire,  # noqa: E402,F401
    inception,  # noqa: E402,F401
    inverted_residual,  # noqa: E402,F401
    plain,  # noqa: E402,F401
    shuffle,  # noqa: E402,F401
    spectrum,  # noqa: E402,F401
    xception_blocks,  # noqa: E402,F401
)
