"""The lineage blocks, one file per stage; importing this registers them."""

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.head import ClassifierHead, Dense
from lineage.blocks.registry import block_names, build_block, register_block

__all__ = ['ClassifierHead', 'ConvBN', 'Dense', 'block_names', 'build_block', 'register_block']

# Block modules register themselves on import.
from lineage.blocks import bottleneck as bottleneck  # noqa: E402
from lineage.blocks import factorized as factorized  # noqa: E402
from lineage.blocks import fire as fire  # noqa: E402
from lineage.blocks import inception as inception  # noqa: E402
from lineage.blocks import inverted_residual as inverted_residual  # noqa: E402
from lineage.blocks import plain as plain  # noqa: E402
from lineage.blocks import separable as separable  # noqa: E402
from lineage.blocks import shuffle as shuffle  # noqa: E402
from lineage.blocks import spectrum as spectrum  # noqa: E402
