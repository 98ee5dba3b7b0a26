"""Parameter and MAC accounting: known counts, a hand-computed layer table, and XLA's count."""

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import pytest
from abstract_models import abstract, abstract_model
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage import counting
from lineage.blocks import ClassifierHead, ConvBN, block_names, build_block, conv_algorithms
from lineage.models import model_names
from lineage.summary import default_input_size


def test_pointwise_conv_counts():
    # A bias-free 1x1 conv 256 -> 64 has 16,384 parameters.
    bare = abstract(lambda r: ConvBN(256, 64, 1, norm=False, use_bias=False, rngs=r))
    assert counting.param_count(bare) == 16_384
    assert counting.batch_stat_count(bare) == 0
    biased = abstract(lambda r: ConvBN(256, 64, 1, norm=False, rngs=r))  # bias if no BN
    assert counting.param_count(biased) == 16_384 + 64
    with_bn = abstract(lambda r: ConvBN(256, 64, 1, rngs=r))
    assert counting.param_count(with_bn) == 16_384 + 128  # BN scale and offset
    assert counting.batch_stat_count(with_bn) == 128  # running mean and variance


def test_factorized_grouped_abstract_counts():
    conv = abstract(lambda r: ConvBN(32, 48, (1, 7), groups=4, rngs=r))
    assert counting.param_count(conv) == 7 * 8 * 48 + 96
    assert counting.batch_stat_count(conv) == 96


@pytest.mark.parametrize(
    'kernel, in_features, out_features, groups, expected',
    [
        (5, 256, 512, 1, 3_276_800),  # a 5x5 ...
        (3, 256, 256, 1, 589_824),  # ... against two 3x3: 589,824 + 1,179,648
        (3, 256, 512, 1, 1_179_648),
        (3, 2, 3, 1, 54),
        ((1, 7), 64, 64, 1, 28_672),
        (3, 64, 64, 64, 576),  # depthwise
        (3, 64, 128, 8, 9_216),
    ],
)
def test_conv_params_formula_matches_the_module(
    kernel, in_features, out_features, groups, expected
):
    assert counting.conv_params(kernel, in_features, out_features, groups) == expected
    module = abstract(
        lambda r: ConvBN(
            in_features, out_features, kernel, groups=groups, norm=False, use_bias=False,
            rngs=r,
        )
    )  # fmt: skip
    assert counting.param_count(module) == expected


def test_factorization_and_bottleneck_arithmetic():
    two_3x3 = counting.conv_params(3, 256, 256) + counting.conv_params(3, 256, 512)
    assert two_3x3 == 1_769_472
    assert round(two_3x3 / counting.conv_params(5, 256, 512), 2) == 0.54
    bottleneck = sum(
        counting.conv_params(k, i, o) for k, i, o in [(1, 256, 64), (3, 64, 64), (1, 64, 256)]
    )
    assert bottleneck == 69_632
    assert counting.separable_params(3, 2, 3) == 18 + 6
    assert counting.dense_params(2048, 1000) == 2_049_000
    assert counting.batchnorm_params(64) == 128


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 1024), st.integers(1, 1024), st.sampled_from([1, 3, 5, 7]))
def test_separable_over_conv_is_one_over_o_plus_one_over_k2(i, o, k):
    ratio = Fraction(counting.separable_params(k, i, o), counting.conv_params(k, i, o))
    assert ratio == Fraction(1, o) + Fraction(1, k * k)


class Tiny(nnx.Module):
    """stem 3x3/2 -> depthwise 3x3 -> pointwise 1x1 -> head; every count is worked by hand."""

    def __init__(self, rngs):
        self.stem = ConvBN(3, 8, 3, strides=2, rngs=rngs)
        self.dw = ConvBN(8, 8, 3, groups=8, rngs=rngs)
        self.pw = ConvBN(8, 16, 1, rngs=rngs)
        self.head = ClassifierHead(16, 10, rngs=rngs)

    def __call__(self, x):
        return self.head(self.pw(self.dw(self.stem(x))))


def test_layer_table_of_a_hand_built_module():
    model = abstract(Tiny)
    table = counting.layer_table(model, (9, 9, 3))  # 9x9 at stride 2 -> 5x5
    rows = [(r.path, r.kind, r.output_shape, r.params, r.macs) for r in table.rows]
    assert rows == [
        ('stem', 'conv 3x3/2', (5, 5, 8), 3 * 3 * 3 * 8 + 16, 25 * 9 * 3 * 8),
        ('dw', 'conv 3x3 dw', (5, 5, 8), 9 * 8 + 16, 25 * 9 * 8),
        ('pw', 'conv 1x1', (5, 5, 16), 8 * 16 + 32, 25 * 8 * 16),
        ('head.fc', 'dense', (10,), 16 * 10 + 10, 16 * 10),
    ]
    assert table.params == 232 + 88 + 160 + 170 == counting.param_count(model)
    assert table.batch_stats == 16 + 16 + 32
    assert table.macs == 5400 + 1800 + 3200 + 160 == sum(r.macs for r in table.rows)
    assert table.untraced_params == 0
    assert table.output_shape == (10,)
    assert counting.total_macs(model, (9, 9, 3)) == table.macs
    # The caller's model keeps its mode: layer_table evaluates a copy.
    assert model.stem.norm.use_running_average is False
    # The program's own conv and dot ops carry exactly the table's MACs.
    assert sum(op.macs * op.repeats for op in table.ops) == table.macs


def test_layer_table_of_a_concrete_model_and_bad_input():
    model = ConvBN(3, 8, 3, strides=2, rngs=nnx.Rngs(0))  # real arrays, not ShapeDtypeStructs
    assert counting.param_count(model) == 3 * 3 * 3 * 8 + 16
    assert counting.batch_stat_count(model) == 16
    assert counting.layer_table(model, (9, 9, 3)).macs == 25 * 9 * 3 * 8
    assert counting.layer_table(model, (9, 9, 3)).rows[0].path == '(root)'
    with pytest.raises(ValueError, match=r'\(H, W, C\)'):
        counting.layer_table(model, (1, 9, 9, 3))


def test_flops_from_every_cost_analysis_shape():
    assert counting.flops_from({'flops': 10.0}) == 10.0
    assert counting.flops_from([{'flops': 4.0}]) == 4.0
    assert counting.flops_from([]) is None
    assert counting.flops_from(None) is None
    assert counting.flops_from({'flops': -1.0}) is None
    assert counting.flops_from({'bytes accessed': 3.0}) is None
    a, b = jnp.zeros((4, 8)), jnp.zeros((8, 16))
    assert counting.xla_flops(jnp.dot, a, b) in (None, 2 * 4 * 8 * 16)


CONVS = {
    # name: (H, W, ConvBN args, kwargs)
    '1x1': (8, 8, (16, 8, 1), {}),
    '1x1/2 odd': (9, 9, (16, 8, 1), {'strides': 2}),
    '3x3': (8, 8, (16, 8, 3), {}),
    '3x3/2 odd': (9, 9, (16, 8, 3), {'strides': 2}),
    '5x5': (7, 7, (8, 8, 5), {}),
    '1x7': (7, 7, (8, 8, (1, 7)), {}),
    '3x3 g4': (8, 8, (16, 32, 3), {'groups': 4}),
    '3x3 dw': (8, 8, (16, 16, 3), {'groups': 16}),
    '3x3 dw x2': (8, 8, (16, 32, 3), {'groups': 16}),
    '3x3 dilated': (9, 9, (8, 8, 3), {'dilation': 2}),
    '3x3 valid': (9, 9, (8, 8, 3), {'padding': 'valid'}),
}


@pytest.mark.parametrize('name', sorted(CONVS))
def test_xla_counts_two_flops_per_unpadded_mac(name):
    h, w, args, kwargs = CONVS[name]
    conv = abstract(lambda r: ConvBN(*args, norm=False, use_bias=False, act=None, rngs=r, **kwargs))
    table = counting.layer_table(conv, (h, w, args[0]))
    (op,) = table.ops
    assert op.macs == table.macs
    flops = op.xla_flops()
    if flops is None:
        pytest.skip('this XLA backend gives no flop count')
    assert flops == 2 * op.unpadded_macs
    if name.startswith('1x1') or name.endswith('valid'):
        assert op.unpadded_macs == op.macs  # no padded taps: XLA equals the paper count


@pytest.mark.parametrize('impl', ['shift', 'im2col'])
def test_the_table_traces_the_reference_conv_whatever_form_is_set(impl):
    conv = abstract(lambda r: ConvBN(8, 8, 3, groups=8, rngs=r))
    with conv_algorithms.conv_impl(impl):
        (op,) = counting.layer_table(conv, (8, 8, 8)).ops
        assert conv_algorithms.get_conv_impl() == impl
    assert op.primitive.name == 'conv_general_dilated'


def test_unpadded_macs_by_hand():
    conv = abstract(lambda r: ConvBN(16, 8, 3, rngs=r))
    (op,) = counting.layer_table(conv, (8, 8, 16)).ops
    # Each axis: 8 outputs x 3 taps, minus the one padded tap at each border.
    assert op.unpadded_macs == (8 * 3 - 2) ** 2 * 16 * 8
    assert op.macs == 8 * 8 * 9 * 16 * 8


def test_ops_in_a_scan_count_length_times_and_cond_is_refused():
    def scanned(x, w):
        return jax.lax.scan(lambda c, _: (c @ w, None), x, length=5)[0]

    (op,) = counting.mac_ops(scanned, jnp.zeros((2, 8)), jnp.zeros((8, 8)))
    assert (op.macs, op.repeats) == (2 * 8 * 8, 5)
    branchy = lambda p, x: jax.lax.cond(p, lambda: x @ x, lambda: x)
    with pytest.raises(ValueError, match='depend on data'):
        counting.mac_ops(branchy, True, jnp.zeros((4, 4)))


# Beyond the convs' 2 flops per unpadded MAC, XLA counts BatchNorm (subtract, multiply, add),
# activations, residual adds, pooling windows and channel shuffles: measured 2.3-3.7 flops per
# element of the input and the layer outputs over the 14 blocks registered at the time (9x9x8,
# stride 2), e.g. plain3x3 2.25 (4 per conv output: BN + ReLU), inception 3.41; 8 leaves room.
ELEMENTWISE_BUDGET = 8


@pytest.mark.parametrize('name', block_names())
def test_every_block_table_matches_its_program_and_xla(name):
    block = abstract(lambda r: build_block(name, 8, 16, 2, rngs=r))
    shape = (9, 9, 8)
    table = counting.layer_table(block, shape)
    assert table.output_shape == (5, 5, 16)
    assert table.macs == sum(r.macs for r in table.rows) > 0
    assert table.untraced_params == 0, 'a layer with parameters does not record itself'
    ops = table.ops
    assert table.macs == sum(op.macs * op.repeats for op in ops)
    unique = {repr((op.primitive, op.params, op.avals)): op for op in ops}
    for op in unique.values():
        flops = op.xla_flops()
        if flops is not None:
            assert flops == 2 * op.unpadded_macs
    run, args, _ = counting.eval_forward(block, shape)
    total = counting.xla_flops(run, *args)
    if total is not None:
        convs = 2 * sum(op.unpadded_macs * op.repeats for op in ops)
        elements = math.prod(shape) + sum(math.prod(r.output_shape) for r in table.rows)
        assert convs <= total <= convs + ELEMENTWISE_BUDGET * elements, (
            f'XLA {total} flops vs 2 x unpadded MACs {convs}: '
            f'{(total - convs) / elements:.2f} flops per element beyond the convs'
        )


@pytest.mark.parametrize('name', model_names())
def test_every_model_table_matches_its_program(name):
    # At the model's own input size (eval_shape-like tracing: no compute, so 224/299 is cheap).
    model = abstract_model(name, num_classes=10)
    size = default_input_size(name)
    table = counting.layer_table(model, (size, size, 3))
    assert table.output_shape == (10,)
    assert table.params == counting.param_count(model)
    assert table.untraced_params == 0, 'a layer with parameters does not record itself'
    assert table.macs == sum(op.macs * op.repeats for op in table.ops) > 0
