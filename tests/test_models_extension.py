"""SqueezeNet 1.0/1.1 and ShuffleNet v2 x0.5/x1.0, and what their blocks do beyond the contract.

Counts and shapes come from abstract models (nothing is initialized or computed); a small
variant of each network then takes one real SGD step. The generic block suite
(tests/test_blocks_generic.py) covers the blocks' shapes, gradients, bfloat16 and counts.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from abstract_models import abstract_model
from flax import nnx
from one_step import host_init, sgd_step

from lineage import counting
from lineage.blocks import build_block
from lineage.blocks.fire import fire_widths
from lineage.blocks.shuffle import channel_shuffle
from lineage.models.squeezenet import VERSIONS, ceil_max_pool

# torchvision's counts at 1,000 classes (its model builders' docs: "num_params").
PUBLISHED = {
    'squeezenet1_0': 1_248_424,
    'squeezenet1_1': 1_235_496,
    'shufflenet_v2_x1_0': 2_278_604,
    'shufflenet_v2_x0_5': 1_366_792,
}


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_published_param_counts(name):
    assert counting.param_count(abstract_model(name)) == PUBLISHED[name]


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_squeezenet_count_by_hand(version):
    (stem_width, k), layout = VERSIONS[version]
    total, features = k * k * 3 * stem_width + stem_width, stem_width  # convs carry biases
    for row in layout:
        if row == 'pool':
            continue
        s, e1, e3 = row
        total += (features * s + s) + (s * e1 + e1) + (9 * s * e3 + e3)
        features = e1 + e3
    total += features * 1000 + 1000  # the 1x1 classifier conv
    assert counting.param_count(abstract_model(f'squeezenet{version}')) == total
    assert counting.batch_stat_count(abstract_model(f'squeezenet{version}')) == 0  # no BatchNorm


# (model, stem output, the grid sizes its layers run at, the last conv's output, MACs per
# 224x224 example).
SHAPES = {
    # torchvision: 0.82 and 0.35 GFLOPS (multiply-adds); 1.1 is "2.4x less computation".
    'squeezenet1_0': ((109, 109, 96), [109, 54, 27, 13], (13, 13, 1000), 818_924_576),
    'squeezenet1_1': ((111, 111, 64), [111, 55, 27, 13], (13, 13, 1000), 349_151_936),
    # Ma et al. 2018, Table 5: 41M and 146M FLOPs (multiply-adds).
    'shufflenet_v2_x0_5': ((112, 112, 24), [112, 56, 28, 14, 7], (7, 7, 1024), 40_476_448),
    'shufflenet_v2_x1_0': ((112, 112, 24), [112, 56, 28, 14, 7], (7, 7, 1024), 144_907_992),
}


@pytest.mark.parametrize('name', sorted(SHAPES))
def test_shapes_and_macs_at_224(name):
    stem, grids, last, macs = SHAPES[name]
    table = counting.layer_table(abstract_model(name), (224, 224, 3))
    assert table.rows[0].output_shape == stem
    convs = [r.output_shape for r in table.rows if len(r.output_shape) == 3]
    assert sorted({shape[0] for shape in convs}, reverse=True) == grids
    assert convs[-1] == last
    assert table.output_shape == (1000,)
    assert table.untraced_params == 0
    assert table.macs == macs


def test_macs_against_the_papers():
    macs = {name: SHAPES[name][-1] / 1e6 for name in SHAPES}
    assert round(macs['squeezenet1_0'] / 1e3, 2) == 0.82
    assert round(macs['squeezenet1_1'] / 1e3, 2) == 0.35
    assert round(macs['squeezenet1_0'] / macs['squeezenet1_1'], 1) == 2.3  # "2.4x": rounded up
    assert abs(macs['shufflenet_v2_x0_5'] - 41) < 1 and abs(macs['shufflenet_v2_x1_0'] - 146) < 2


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_bfloat16_logits_are_float32(name):
    graphdef, state = nnx.split(abstract_model(name, dtype=jnp.bfloat16))
    x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    logits = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, x)
    assert logits.shape == (2, 1000) and logits.dtype == jnp.float32


def test_ceil_max_pool_rounds_up_and_never_picks_the_overhang():
    assert ceil_max_pool(jnp.zeros((1, 109, 109, 1))).shape[1:3] == (54, 54)
    assert ceil_max_pool(jnp.zeros((1, 55, 27, 1))).shape[1:3] == (27, 13)
    x = -jnp.arange(36.0).reshape(1, 6, 6, 1) - 1  # all negative: a zero pad would win
    y = ceil_max_pool(x)[0, ..., 0]
    # Windows start at rows/cols 0, 2, 4; the last covers 4..5 plus one overhanging row/col.
    expected = [[-(6 * r + c) - 1 for c in (0, 2, 4)] for r in (0, 2, 4)]
    np.testing.assert_array_equal(y, expected)
    with pytest.raises(ValueError, match='smaller than the 3x3 pool'):
        ceil_max_pool(jnp.zeros((1, 2, 2, 1)))


def test_channel_shuffle_interleaves_groups():
    x = jnp.arange(6.0).reshape(1, 1, 1, 6)  # groups [0 1 | 2 3 | 4 5]
    np.testing.assert_array_equal(channel_shuffle(x, 3)[0, 0, 0], [0, 2, 4, 1, 3, 5])
    np.testing.assert_array_equal(channel_shuffle(x, 2)[0, 0, 0], [0, 3, 1, 4, 2, 5])
    with pytest.raises(ValueError, match='must divide the 6 channels'):
        channel_shuffle(x, 4)


def test_shufflenet_v2_split_passes_half_through():
    unit = build_block('shufflenet_v2', 8, 8, 1, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (1, 5, 5, 8))
    y = unit(x)
    # The untouched half lands on the even channels after the shuffle (g = 2).
    np.testing.assert_array_equal(y[..., 0::2], x[..., :4])
    assert unit.left is None  # the split form has one branch
    assert build_block('shufflenet_v2', 8, 16, 1, rngs=nnx.Rngs(0)).left is not None


def test_shufflenet_v1_stride2_concatenates_the_pooled_input():
    unit = build_block('shufflenet_v1', 12, 48, 2, groups=3, rngs=nnx.Rngs(0))
    assert unit.expand.out_features == 48 - 12 and unit.reduce.out_features == 12
    assert (unit.reduce.groups, unit.expand.groups) == (3, 3)
    x = jnp.abs(jax.random.normal(jax.random.key(0), (1, 6, 6, 12)))
    y = unit(x)
    # Non-negative input: the first 12 channels are ReLU(avg pool 3x3/2 of x) = the pool itself.
    np.testing.assert_allclose(y[0, 0, 0, :12], x[0, :2, :2].mean(axis=(0, 1)), rtol=1e-6)


def test_fire_widths_and_norm_option():
    assert fire_widths(128) == (16, 64, 64)  # SqueezeNet's fire2: SR 1/8, pct3x3 1/2
    assert fire_widths(64, 0.25, 0.75) == (16, 16, 48)
    plain = nnx.eval_shape(lambda: build_block('fire', 96, 128, norm=False, rngs=nnx.Rngs(0)))
    assert counting.param_count(plain) == (96 * 16 + 16) + (16 * 64 + 64) + (9 * 16 * 64 + 64)
    assert counting.batch_stat_count(plain) == 0


@pytest.mark.parametrize(
    'name,args,options,message',
    [
        ('fire', (16, 20, 1), {}, 'multiple of 8'),
        ('fire', (16, 32, 1), {'pct3x3': 1.0}, 'no 1x1 or no 3x3'),
        ('shufflenet_v1', (32, 32, 2), {}, 'must exceed in_features=32'),
        ('shufflenet_v1', (16, 32, 1), {'groups': 3}, 'groups=3 must divide the in width 16'),
        ('shufflenet_v2', (16, 31, 1), {}, 'out_features=31 is odd'),
    ],
)
def test_bad_block_arguments_raise_one_clear_line(name, args, options, message):
    with pytest.raises(ValueError, match=message):
        build_block(name, *args, rngs=nnx.Rngs(0), **options)


# Small variants on 32x32 inputs: SqueezeNet 1.1 as it is (its maps end at 1x1), ShuffleNet
# v2 x0.5 with one unit per stage and a narrow last conv.
SMALL = {
    'squeezenet1_1': {'dropout': 0.0},
    'shufflenet_v2_x0_5': {'repeats': (1, 1, 1), 'last_width': 64},
}


@pytest.mark.parametrize('name', sorted(SMALL))
def test_small_variant_takes_one_sgd_step(name):
    model = host_init(name, **SMALL[name])
    x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    y = jnp.array([3, 7, 0, 9])
    loss, loss_after, grads, _ = sgd_step(model, 1e-2, x, y)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert np.isfinite(loss) and loss_after < loss, (loss, loss_after)
