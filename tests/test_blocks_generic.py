"""Every registered block, through the registry contract alone: no per-block code here.

A block file that registers itself (`@register_block('name')`) is picked up by
`block_names()` and must pass all of these: output shapes at stride 1 and 2 and on odd sizes,
a finite gradient reaching every parameter, a bfloat16 run close to float32, and parameters and
MACs equal to the analytic formulas of `lineage.counting` applied layer by layer.
(tests/test_counting.py checks each block's layer table against its traced program and XLA.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from one_step import forward, run_once

from lineage import counting
from lineage.blocks import ConvBN, Dense, block_names, build_block

NAMES = block_names()

# (in, out, stride, H, W): equal widths, a widening unit on an odd grid, and a stride-2 unit on
# odd and even grids. Widths are multiples of 16 so that grouped and split blocks divide them.
# Every case is counted and shape-checked abstractly; gradients (a compile each, the slow part)
# run on the identity-shaped case and the odd stride-2 case.
CASES = {
    '32->32 /1 8x8': (32, 32, 1, 8, 8),
    '16->32 /1 9x7': (16, 32, 1, 9, 7),
    '16->32 /2 9x7': (16, 32, 2, 9, 7),
    '16->32 /2 8x8': (16, 32, 2, 8, 8),
}


def ceil_div(a, b):
    return -(-a // b)


def inputs(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


@pytest.mark.parametrize('case', ['32->32 /1 8x8', '16->32 /2 9x7'])
@pytest.mark.parametrize('name', NAMES)
def test_shape_and_gradient_reach_every_parameter(name, case):
    cin, cout, strides, h, w = CASES[case]
    block = build_block(name, cin, cout, strides, rngs=nnx.Rngs(0))
    block.train()
    x = inputs((2, h, w, cin))
    target = inputs((2, ceil_div(h, strides), ceil_div(w, strides), cout), seed=2)

    graphdef, state = nnx.split(block)

    def step(state, x):
        def loss_fn(block):  # train mode: BatchNorm normalizes with the batch's statistics
            y = block(x)
            return jnp.mean((y - target) ** 2), y

        return nnx.value_and_grad(loss_fn, has_aux=True)(nnx.merge(graphdef, state))

    (loss, y), grads = run_once(step, state, x)
    assert y.shape == target.shape, f'{name}: {cin}->{cout} /{strides} on {h}x{w} gave {y.shape}'
    assert np.isfinite(float(loss)) and bool(jnp.all(jnp.isfinite(y)))
    for path, g in nnx.to_flat_state(grads):
        g = np.asarray(g[...])
        assert np.all(np.isfinite(g)), f'{name}: non-finite gradient at {path}'
        # A parameter whose gradient is exactly zero never reaches the output (or is cancelled,
        # as a bias before BatchNorm is).
        assert np.any(g != 0), f'{name}: zero gradient at {path}'


@pytest.mark.parametrize('name', NAMES)
def test_bfloat16_compute_float32_params_close_to_float32(name):
    x = inputs((2, 9, 7, 16))
    blocks = {
        dtype: build_block(name, 16, 32, 2, rngs=nnx.Rngs(0), dtype=dtype)
        for dtype in (jnp.float32, jnp.bfloat16)
    }
    params = {dtype: nnx.state(block, nnx.Param) for dtype, block in blocks.items()}
    assert {p.dtype for p in jax.tree.leaves(params[jnp.bfloat16])} == {jnp.dtype('float32')}
    for a, b in zip(*(jax.tree.leaves(p) for p in params.values()), strict=True):
        np.testing.assert_array_equal(a, b)  # the same weights: only the compute dtype differs
    out = {dtype: forward(block, x) for dtype, block in blocks.items()}
    low, ref = out[jnp.bfloat16], out[jnp.float32]
    assert low.dtype == jnp.bfloat16 and low.shape == ref.shape == (2, 5, 4, 32)
    assert bool(jnp.all(jnp.isfinite(low)))
    # bfloat16 keeps 8 bits of mantissa: a few layers deep, errors stay at the percent level.
    error = float(jnp.max(jnp.abs(low.astype(jnp.float32) - ref)) / jnp.max(jnp.abs(ref)))
    assert error < 0.05, f'{name}: bfloat16 differs from float32 by {error:.3f} of the range'


def layer_params(module) -> int:
    """A recorded layer's parameters from its hyperparameters, by `lineage.counting`'s formulas."""
    if isinstance(module, ConvBN):
        conv = counting.conv_params(
            module.kernel_size,
            module.in_features,
            module.out_features,
            module.groups,
            bias=module.bias is not None,
        )
        norm = counting.batchnorm_params(module.out_features) if module.norm is not None else 0
        return conv + norm
    if isinstance(module, Dense):
        return counting.dense_params(module.in_features, module.out_features)
    raise AssertionError(f'{type(module).__name__} records itself but has no analytic formula')


def layer_macs(module, output_shape) -> int:
    """A recorded layer's MACs for one example from its hyperparameters and output grid."""
    if isinstance(module, ConvBN):
        return counting.conv_macs(
            output_shape[:2],
            module.kernel_size,
            module.in_features,
            module.out_features,
            module.groups,
        )
    return counting.dense_params(module.in_features, module.out_features, bias=False)


@pytest.mark.parametrize('case', sorted(CASES))
@pytest.mark.parametrize('name', NAMES)
def test_analytic_params_and_macs_equal_the_modules(name, case):
    cin, cout, strides, h, w = CASES[case]
    block = nnx.eval_shape(lambda: build_block(name, cin, cout, strides, rngs=nnx.Rngs(0)))
    table = counting.layer_table(block, (h, w, cin))
    modules = {'.'.join(map(str, p)) or '(root)': m for p, m in nnx.iter_modules(block)}
    assert table.rows, f'{name}: no layer recorded itself'
    seen = {}
    for row in table.rows:
        module = modules[row.path]
        assert row.params == layer_params(module), f'{name}: {row.path} params'
        assert row.macs == layer_macs(module, row.output_shape), f'{name}: {row.path} MACs'
        seen[row.path] = row.params  # a layer called twice holds its parameters once
    assert sum(seen.values()) == counting.param_count(block), (
        f'{name}: parameters outside the recorded layers'
    )
    assert table.macs == sum(layer_macs(modules[r.path], r.output_shape) for r in table.rows)
    assert table.output_shape == (ceil_div(h, strides), ceil_div(w, strides), cout)
