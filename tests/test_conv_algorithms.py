"""Every conv form equals `lax.conv` in outputs and in gradients w.r.t. input and kernel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from lineage.blocks import conv_algorithms
from lineage.blocks.conv_bn import ConvBN, same_padding

# (name, (N, H, W, C), O, (kh, kw), strides, dilation, groups, padding: 'same' | 'valid' | pairs)
CASES = [
    ('dense3', (2, 8, 8, 6), 10, (3, 3), (1, 1), (1, 1), 1, 'same'),
    ('dense3_s2_odd', (2, 9, 7, 5), 8, (3, 3), (2, 2), (1, 1), 1, 'same'),
    ('dense5_s2', (1, 11, 11, 4), 6, (5, 5), (2, 2), (1, 1), 1, 'same'),
    ('dense3_dil2', (2, 9, 9, 4), 5, (3, 3), (1, 1), (2, 2), 1, 'same'),
    ('dense1x7', (2, 9, 9, 4), 6, (1, 7), (1, 1), (1, 1), 1, 'same'),
    ('dense7x1_s2', (2, 9, 9, 4), 6, (7, 1), (2, 1), (1, 1), 1, 'same'),
    ('dense3_valid_s2', (2, 9, 9, 4), 6, (3, 3), (2, 2), (1, 1), 1, 'valid'),
    ('dense3_pad12', (2, 7, 6, 3), 4, (3, 3), (1, 2), (1, 1), 1, ((1, 2), (0, 1))),
    ('point', (2, 8, 8, 12), 7, (1, 1), (1, 1), (1, 1), 1, 'same'),
    ('point_s2_odd', (2, 9, 9, 12), 7, (1, 1), (2, 2), (1, 1), 1, 'same'),
    ('depth3', (2, 8, 8, 8), 8, (3, 3), (1, 1), (1, 1), 8, 'same'),
    ('depth3_s2_odd', (2, 9, 7, 8), 8, (3, 3), (2, 2), (1, 1), 8, 'same'),
    ('depth3_mult2', (2, 8, 8, 6), 12, (3, 3), (1, 1), (1, 1), 6, 'same'),
    ('depth5_dil2', (2, 11, 11, 4), 4, (5, 5), (1, 1), (2, 2), 4, 'same'),
    ('depth3_valid', (2, 8, 8, 4), 4, (3, 3), (1, 1), (1, 1), 4, 'valid'),
    ('depth3_odd_rows', (1, 5, 5, 4), 4, (3, 3), (1, 1), (1, 1), 4, 'same'),  # 25 positions
    ('group2', (2, 8, 8, 8), 12, (3, 3), (1, 1), (1, 1), 2, 'same'),
    ('group4_s2_odd', (2, 9, 9, 8), 8, (3, 3), (2, 2), (1, 1), 4, 'same'),
    ('group4_point', (2, 8, 8, 8), 16, (1, 1), (1, 1), (1, 1), 4, 'same'),
]

FORMS = [f for f in conv_algorithms.FORMS if f != 'xla']
# bfloat16 on a few cases of each kind: the forms' code paths are dtype-independent.
BF16_CASES = ['dense3_s2_odd', 'dense1x7', 'point_s2_odd', 'depth3_mult2', 'group4_s2_odd']


def _pads(padding, kernel_size, dilation):
    if padding == 'same':
        return same_padding(kernel_size, dilation)
    if padding == 'valid':
        return [(0, 0), (0, 0)]
    return padding


def _all_forms(x, kernel, strides, pads, dilation, groups):
    """{form: (output, d/dx, d/dkernel)} for every form, compiled once together."""
    rng = np.random.default_rng(7)

    @jax.jit
    def run(x, kernel):
        results = {}
        for form in conv_algorithms.FORMS:

            def f(x, kernel, form=form):
                return conv_algorithms.FORMS[form](x, kernel, strides, pads, dilation, groups)

            y, vjp = jax.vjp(f, x, kernel)
            results[form] = (y, *vjp(ct.astype(y.dtype)))
        return results

    out_shape = jax.eval_shape(
        lambda x, k: conv_algorithms.conv_xla(x, k, strides, pads, dilation, groups), x, kernel
    ).shape
    # A fixed, non-uniform cotangent: every output position weighs differently.
    ct = jnp.asarray(rng.standard_normal(out_shape), jnp.float32)
    return run(x, kernel)


def _assert_close(got, want, rtol, what):
    assert got.dtype == want.dtype, what
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    assert got.shape == want.shape, what
    scale = np.abs(want).max()
    assert scale > 0, what
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize(
    'case,dtype,rtol',
    [(c, jnp.float32, 2e-5) for c in CASES]
    + [(c, jnp.bfloat16, 2e-2) for c in CASES if c[0] in BF16_CASES],
    ids=lambda v: v[0] if isinstance(v, tuple) else (v if isinstance(v, float) else None),
)
def test_forms_equal_lax_conv(case, dtype, rtol):
    _, shape, out, kernel_size, strides, dilation, groups, padding = case
    pads = _pads(padding, kernel_size, dilation)
    rng = np.random.default_rng(sum(shape) + out)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32).astype(dtype)
    kshape = (*kernel_size, shape[-1] // groups, out)
    kernel = jnp.asarray(rng.standard_normal(kshape), jnp.float32).astype(dtype)
    results = _all_forms(x, kernel, strides, pads, dilation, groups)
    for form in FORMS:
        for name, got, want in zip(
            ('output', 'd/dx', 'd/dkernel'), results[form], results['xla'], strict=True
        ):
            _assert_close(got, want, rtol, f'{form} {name}')


def test_layer_kind():
    assert conv_algorithms.layer_kind((3, 3, 1, 32), 32, 32) == 'depthwise'
    assert conv_algorithms.layer_kind((3, 3, 1, 64), 32, 32) == 'depthwise'
    assert conv_algorithms.layer_kind((1, 1, 32, 64), 32, 1) == 'pointwise'
    assert conv_algorithms.layer_kind((1, 1, 8, 64), 32, 4) == 'grouped'
    assert conv_algorithms.layer_kind((3, 3, 8, 64), 32, 4) == 'grouped'
    assert conv_algorithms.layer_kind((1, 7, 32, 64), 32, 1) == 'dense'
    assert conv_algorithms.layer_kind((3, 3, 1, 8), 1, 1) == 'dense'


def test_auto_is_native_off_cpu_and_the_table_on_cpu():
    for kind in conv_algorithms.KINDS:
        native = 'shift' if kind == 'grouped' else 'xla'
        assert conv_algorithms.auto_form(kind, backend='gpu') == native
        assert conv_algorithms.auto_form(kind, backend='tpu') == native
        assert conv_algorithms.auto_form(kind, backend='cpu', in_features=1024) == (
            'im2col' if kind == 'dense' else 'shift'
        )
    # On CPU a dense conv's form follows its input channels and grid: lax.conv from 5 to 64
    # channels on grids up to 32x32.
    for channels, positions, form in (
        (3, 1024, 'im2col'),
        (5, 1024, 'xla'),
        (64, 64, 'xla'),
        (64, 1025, 'im2col'),
        (65, 64, 'im2col'),
    ):
        got = conv_algorithms.auto_form('dense', 'cpu', in_features=channels, positions=positions)
        assert got == form, (channels, positions)
    assert conv_algorithms.auto_form('depthwise', backend='cpu', in_features=1) == 'shift'


@pytest.mark.parametrize(
    ('kernel_shape', 'uses_lax_conv'),
    [
        ((3, 3, 16, 16), True),
        ((5, 5, 16, 32), True),
        ((3, 3, 64, 64), True),
        ((3, 3, 128, 8), False),
    ],
)
def test_auto_picks_the_form_by_shape_on_cpu(kernel_shape, uses_lax_conv):
    x = jnp.ones((2, 8, 8, kernel_shape[2]))
    kernel = jnp.ones(kernel_shape)
    jaxpr = str(jax.make_jaxpr(lambda x, k: conv_algorithms.conv(x, k, impl='auto'))(x, kernel))
    assert ('conv_general_dilated' in jaxpr) == uses_lax_conv


def test_setting_context_restores_and_rejects_unknown_names():
    assert conv_algorithms.get_conv_impl() == 'auto'
    with conv_algorithms.conv_impl('shift'):
        assert conv_algorithms.get_conv_impl() == 'shift'
        with conv_algorithms.conv_impl('xla'):
            assert conv_algorithms.get_conv_impl() == 'xla'
        assert conv_algorithms.get_conv_impl() == 'shift'
    assert conv_algorithms.get_conv_impl() == 'auto'
    with pytest.raises(ValueError, match='unknown conv impl'):
        conv_algorithms.set_conv_impl('winograd')
    with pytest.raises(ValueError, match='does not fit'):
        conv_algorithms.conv(jnp.zeros((1, 2, 2, 1)), jnp.zeros((3, 3, 1, 1)), impl='shift')


def test_a_form_per_kind_replaces_auto_for_that_kind_only():
    x = jnp.ones((1, 8, 8, 4))

    def uses_lax_conv(kernel):
        pad = ((1, 1), (1, 1)) if kernel.shape[0] == 3 else ((0, 0), (0, 0))
        jaxpr = jax.make_jaxpr(lambda x: conv_algorithms.conv(x, kernel, padding=pad))(x)
        return 'conv_general_dilated' in str(jaxpr)

    dense, pointwise = jnp.ones((3, 3, 4, 4)), jnp.ones((1, 1, 4, 4))
    assert jax.default_backend() == 'cpu'  # auto: im2col for dense, shift for pointwise
    assert not uses_lax_conv(dense) and not uses_lax_conv(pointwise)
    with conv_algorithms.conv_impl({'dense': 'xla'}):
        assert uses_lax_conv(dense)
        assert not uses_lax_conv(pointwise)
    with pytest.raises(ValueError, match=r"conv impl dense='winograd': give a kind of"):
        conv_algorithms.set_conv_impl({'dense': 'winograd'})
    assert conv_algorithms.get_conv_impl() == 'auto'


def test_convbn_follows_the_setting():
    layer = ConvBN(4, 4, 3, groups=4, strides=2, rngs=nnx.Rngs(0))
    layer.eval()
    x = jax.random.normal(jax.random.key(1), (2, 9, 9, 4))
    outputs, programs = {}, {}
    for impl in conv_algorithms.FORMS:
        with conv_algorithms.conv_impl(impl):
            # Fresh functions: a traced function keeps the form it was traced with.
            outputs[impl] = jax.jit(lambda x: layer(x))(x)
            jaxpr = jax.make_jaxpr(lambda x: layer(x))(x)
        programs[impl] = str(jaxpr)
        # Only xla traces to a bare conv (hybrid wraps its own in a custom_vjp).
        has_conv = any(str(e.primitive) == 'conv_general_dilated' for e in jaxpr.eqns)
        assert has_conv == (impl == 'xla'), impl
    assert len(set(programs.values())) == len(conv_algorithms.FORMS)  # the setting reaches ConvBN
    for impl, y in outputs.items():
        assert y.shape == (2, 5, 5, 4)
        np.testing.assert_allclose(y, outputs['xla'], rtol=1e-5, atol=1e-5, err_msg=impl)


class _EveryKind(nnx.Module):
    """One ConvBN of each layer kind, so that `auto` uses each of its CPU forms."""

    def __init__(self, rngs):
        c = 16
        self.layers = nnx.List(
            [
                ConvBN(c, c, 3, strides=2, rngs=rngs),  # dense: im2col
                ConvBN(c, c, 3, groups=2, rngs=rngs),  # grouped: shift
                ConvBN(c, c, 3, groups=c, rngs=rngs),  # depthwise: shift
                ConvBN(c, 8, 1, rngs=rngs),  # pointwise: shift
            ]
        )

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def _sharded_grad_hlo(impl):
    """Compiled HLO of a batch-sharded gradient step over the 8 simulated devices."""
    mesh = jax.make_mesh((8,), ('data',))
    graphdef, state = nnx.split(_EveryKind(nnx.Rngs(0)))

    def loss(state, x):
        return jnp.mean(nnx.merge(graphdef, state)(x) ** 2)

    shardings = (NamedSharding(mesh, P()), NamedSharding(mesh, P('data')))
    x = jax.ShapeDtypeStruct((16, 8, 8, 16), jnp.float32)
    with conv_algorithms.conv_impl(impl):
        step = jax.jit(jax.grad(loss), in_shardings=shardings)
        return step.lower(state, x).compile().as_text()


# xla and hybrid run lax.conv, which gathers for grouped convs (the next test); auto and the
# matmul forms must not.
@pytest.mark.parametrize('impl', ['auto', 'shift', 'im2col'])
def test_batch_sharded_step_does_not_gather_the_batch(impl):
    # Data parallelism needs only all-reduces of the gradients; an all-gather here would
    # collect the activations of the whole batch on every device.
    assert 'all-gather' not in _sharded_grad_hlo(impl)


def test_xla_grouped_conv_gathers_the_batch():
    # openxla/xla #47945: lax.conv with 1 < groups < channels makes the SPMD partitioner
    # all-gather the batch. If this fails, XLA has fixed it and AUTO_ACCELERATOR may use 'xla'
    # for grouped convs again.
    assert 'all-gather' in _sharded_grad_hlo('xla')


@pytest.mark.parametrize('impl', ['shift', 'im2col'])
@pytest.mark.parametrize('size', [1, 3])
def test_kernel_gradient_is_one_dot_over_rows_without_a_transpose(impl, size):
    # The matmul forms fold (N, H, W) into one row axis: the kernel gradient is then a 2-D dot
    # contracting axis 0 of both operands, which XLA's CPU dot reads in place. Over 4-D
    # operands XLA transposed the whole output gradient first (0.16-0.19 s per pointwise conv in
    # Xception's step at 128x128, batch 32; experiments/results/step_profiles.md).
    x, kernel = jnp.ones((4, 16, 16, 32)), jnp.ones((size, size, 32, 64))
    pad = ((size // 2, size // 2),) * 2

    def loss(x, kernel):
        return jnp.sum(jnp.tanh(conv_algorithms.conv(x, kernel, padding=pad, impl=impl)))

    hlo = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(x, kernel).compile().as_text()
    rows = 'lhs_contracting_dims={0}, rhs_contracting_dims={0}'
    assert any(' dot(' in line and rows in line for line in hlo.splitlines())
    assert ' transpose(' not in hlo
