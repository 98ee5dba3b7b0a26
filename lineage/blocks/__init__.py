"""The lineage blocks, one file per stage; importing this registers them."""

from lineage.blocks.conv import ConvBN
from lineage.blocks.head import ClassifierHead, Dense
from lineage.blocks.registry import block_names, build_block, register_block

__all__ = ['ClassifierHead', 'ConvBN', 'Dense', 'block_names', 'build_block', 'register_block']

# Block modules register themselves on import.
from lineage.blocks import plain  # noqa: E402,F401
