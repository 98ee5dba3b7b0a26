"""Both max-pool forms agree exactly in output and gradient, ties included; avg pool's counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from one_step import run_once

from lineage.blocks import pooling

# (shape, window, strides, padding)
CASES = [
    ((2, 9, 9, 3), 3, 2, 'same'),
    ((2, 8, 8, 3), 3, 2, 'same'),
    ((2, 8, 8, 3), 3, 1, 'same'),
    ((2, 9, 7, 3), 3, 2, 'valid'),
    ((1, 6, 6, 2), 2, 2, 'valid'),
    ((1, 11, 11, 2), 5, 3, 'valid'),
]


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize('ties', [False, True], ids=['distinct', 'ties'])
@pytest.mark.parametrize('case', CASES, ids=lambda c: f'{c[0][1]}x{c[0][2]}_k{c[1]}s{c[2]}{c[3]}')
def test_max_pool_taps_equals_reduce_window(case, ties, dtype):
    shape, window, strides, padding = case
    rng = np.random.default_rng(0)
    # With ties (values in {0, 1, 2}) most windows hold their maximum more than once: the
    # gradient must go to the same one of them (the first, row-major) in both forms.
    x = rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)
    x = jnp.asarray(x, dtype)
    forms = {
        form: (lambda x, form=form: pooling.max_pool(x, window, strides, padding, form=form))
        for form in pooling.MAX_POOL_FORMS
    }
    ct_shape = jax.eval_shape(forms['taps'], x).shape
    ct = jnp.asarray(rng.standard_normal(ct_shape), dtype)
    # One compiled program for both forms: eager dispatch compiles each of the taps' ops alone.
    outs, grads = run_once(
        lambda x, ct: (
            {form: pool(x) for form, pool in forms.items()},
            {form: jax.vjp(pool, x)[1](ct)[0] for form, pool in forms.items()},
        ),
        x,
        ct,
    )
    np.testing.assert_array_equal(outs['taps'], outs['reduce_window'])
    np.testing.assert_array_equal(grads['taps'], grads['reduce_window'])
    # Every cotangent lands on exactly one input: nothing lost or counted twice.
    assert float(jnp.sum(grads['taps'].astype(jnp.float32))) == pytest.approx(
        float(jnp.sum(ct.astype(jnp.float32))), rel=1e-2
    )


def test_max_pool_picks_taps_on_cpu_and_rejects_unknown_forms():
    x = jnp.arange(2 * 5 * 5 * 1, dtype=jnp.float32).reshape(2, 5, 5, 1)
    jaxpr = str(jax.make_jaxpr(lambda x: pooling.max_pool(x, 3, 2))(x))
    assert jax.default_backend() == 'cpu'
    assert 'custom_vjp_call' in jaxpr and 'reduce_window' not in jaxpr
    with pytest.raises(ValueError, match="form='winograd'; use one of reduce_window, taps"):
        pooling.max_pool(x, form='winograd')


def test_max_pool_never_picks_padding_and_avg_pool_counts_only_the_input():
    x = -jnp.ones((1, 2, 2, 1))
    np.testing.assert_array_equal(pooling.max_pool(x, 3, 1), -np.ones((1, 2, 2, 1)))
    x = jnp.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    # Each 3x3 'same' window covers the whole 2x2 input: the mean of 1..4, not of 9 cells.
    np.testing.assert_allclose(pooling.avg_pool(x, 3, 1), np.full((1, 2, 2, 1), 2.5))


def test_max_pool_form_setting_reaches_the_trace_and_rejects_unknown_forms():
    x = jnp.ones((1, 8, 8, 2))

    def traced(x):
        return str(jax.make_jaxpr(lambda x: pooling.max_pool(x, 3, 2))(x))

    assert jax.default_backend() == 'cpu' and 'reduce_window' not in traced(x)  # taps on CPU
    with pooling.max_pool_form('reduce_window'):
        assert 'reduce_window' in traced(x)
    assert 'reduce_window' not in traced(x)  # restored
    with pytest.raises(ValueError, match=r"max_pool: form='avg'; use one of"):
        with pooling.max_pool_form('avg'):
            pass
