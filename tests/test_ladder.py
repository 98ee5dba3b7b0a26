"""The ladder network: the frame is fixed, only the block changes."""

import jax
import jax.numpy as jnp
import pytest
from abstract_models import abstract, abstract_model
from flax import nnx

from lineage import counting
from lineage.blocks import block_names
from lineage.models import build_model, model_names

TINY = dict(widths=(8, 16), depths=(1, 2), in_channels=1)


def conv_bn(k, i, o):
    return k * k * i * o + 2 * o


def test_registered():
    assert 'ladder' in model_names()


def test_plain3x3_param_count_by_hand():
    model = abstract_model('ladder', num_classes=10, block='plain3x3', **TINY)
    stem = conv_bn(3, 1, 8)
    stage1 = conv_bn(3, 8, 8) * 2
    stage2 = conv_bn(3, 8, 16) + conv_bn(3, 16, 16) + 2 * conv_bn(3, 16, 16)
    head = 16 * 10 + 10
    assert counting.param_count(model) == stem + stage1 + stage2 + head


@pytest.mark.parametrize('block', block_names())
def test_every_block_fits_the_frame(block):
    model = abstract_model('ladder', num_classes=10, block=block, **TINY)
    # The stem and head are the same whatever the block.
    assert counting.param_count(model.stem) == conv_bn(3, 1, 8)
    assert counting.param_count(model.head) == 16 * 10 + 10
    assert len(model.blocks) == 3
    out = jax.eval_shape(
        lambda m, x: m(x), model, jax.ShapeDtypeStruct((2, 16, 16, 1), jnp.float32)
    )
    assert out.shape == (2, 10) and out.dtype == jnp.float32


def test_downsampling_points():
    table = counting.layer_table(
        abstract_model('ladder', num_classes=10, block='plain3x3', **TINY), (16, 16, 1)
    )
    sizes = [row.output_shape[:2] for row in table.rows if len(row.output_shape) == 3]
    # stem and stage 1 at 16x16, stage 2 (stride 2 on its first block) at 8x8.
    assert sizes == [(16, 16)] * 3 + [(8, 8)] * 4


def test_real_forward_bfloat16_compute_float32_params():
    model = build_model(
        'ladder', num_classes=10, rngs=nnx.Rngs(0), block='plain3x3', dtype=jnp.bfloat16, **TINY
    )
    logits = model(jnp.ones((2, 8, 8, 1)))
    assert logits.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(logits)))
    assert {p.dtype for p in jax.tree.leaves(nnx.state(model, nnx.Param))} == {jnp.dtype('float32')}


def test_bad_options():
    with pytest.raises(ValueError, match="unknown block 'nope'; choose one of: .*plain3x3"):
        abstract_model('ladder', num_classes=10, block='nope', **TINY)
    with pytest.raises(ValueError, match='equal length'):
        abstract_model('ladder', num_classes=10, block='plain3x3', widths=(8, 16), depths=(1,))
    with pytest.raises(ValueError, match=r'widths \(0, 16\) .* every width and depth >= 1'):
        abstract_model('ladder', num_classes=10, block='plain3x3', widths=(0, 16), depths=(1, 1))


def test_an_option_left_none_is_the_blocks_default():
    # configs/ladder_cifar10.py:mid_act declares mid_act unset (None) for every block.
    def ladder(block, **block_options):
        return abstract(
            lambda rngs: build_model(
                'ladder',
                num_classes=10,
                rngs=rngs,
                block=block,
                block_options=block_options,
                **TINY,
            )
        )

    assert counting.param_count(ladder('plain3x3', mid_act=None)) == counting.param_count(
        ladder('plain3x3')
    )
    assert ladder('spectrum', mid_act=None).blocks[0].pointwise.act == 'relu'  # not None: linear
    assert ladder('spectrum', mid_act='none').blocks[0].pointwise.act is None
