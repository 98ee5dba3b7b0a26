"""Tests of ResNet-50, Xception, MobileNet v1 and v2 and their CIFAR-size variants.

Counts and shapes come from abstract models (`nnx.eval_shape`, `jax.eval_shape`: nothing is
initialized or computed); each CIFAR variant then takes one real SGD step on two 32x32 images.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from abstract_models import abstract_model
from flax import nnx
from one_step import host_init, sgd_step

from lineage import counting, parallel, run_builder
from lineage.models import build_model, model_info
from lineage.models.mobilenet_v2 import make_divisible


def test_cifar_variants_change_strides_not_widths():
    # Only ResNet's stem kernel changes (7x7 -> 3x3 on 3 -> 64 channels).
    resnet50 = model_info('resnet50').params
    assert counting.param_count(abstract_model('resnet50_cifar')) == resnet50 - 3 * 64 * (49 - 9)
    for name in ('xception', 'mobilenet_v1', 'mobilenet_v2'):
        assert counting.param_count(abstract_model(f'{name}_cifar')) == model_info(name).params


# (model, input size, stem output, last feature map before the head) at 1,000 classes.
SHAPES = [
    ('resnet50', 224, (112, 112, 64), (7, 7, 2048)),
    ('xception', 299, (149, 149, 32), (10, 10, 2048)),  # Keras: 'valid' stem, 299->149->147
    ('mobilenet_v1', 224, (112, 112, 32), (7, 7, 1024)),
    ('mobilenet_v2', 224, (112, 112, 32), (7, 7, 1280)),
    ('resnet50_cifar', 32, (32, 32, 64), (4, 4, 2048)),
    ('xception_cifar', 32, (32, 32, 32), (4, 4, 2048)),
    ('mobilenet_v1_cifar', 32, (32, 32, 32), (2, 2, 1024)),
    ('mobilenet_v2_cifar', 32, (32, 32, 32), (4, 4, 1280)),
]


@pytest.mark.parametrize('name,size,stem,last', SHAPES)
def test_layer_shapes(name, size, stem, last):
    table = counting.layer_table(abstract_model(name), (size, size, 3))
    assert table.rows[0].output_shape == stem
    assert table.rows[-2].output_shape == last  # the last conv before the classifier
    assert table.rows[-1].output_shape == (1000,)
    assert table.untraced_params == 0


@pytest.mark.parametrize('name,size', [(n, s) for n, s, *_ in SHAPES[:4]])
def test_bfloat16_logits_shape(name, size):
    model = abstract_model(name, dtype=jnp.bfloat16)
    graphdef, state = nnx.split(model)
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    logits = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, x)
    assert logits.shape == (2, 1000) and logits.dtype == jnp.float32


@pytest.mark.parametrize(
    'alpha,million_params,million_macs',
    [(1.0, 4.2, 569), (0.75, 2.6, 325), (0.5, 1.3, 149), (0.25, 0.5, 41)],
)
def test_mobilenet_v1_width_multiplier_matches_paper_table_6(alpha, million_params, million_macs):
    table = counting.layer_table(abstract_model('mobilenet_v1', alpha=alpha), (224, 224, 3))
    assert round(table.params / 1e6, 1) == million_params
    assert abs(table.macs / 1e6 - million_macs) < 1  # the paper rounds to millions


@pytest.mark.parametrize('alpha,million_macs', [(1.0, 300), (0.75, 209), (0.5, 97), (0.35, 59)])
def test_mobilenet_v2_width_multiplier_matches_paper_macs(alpha, million_macs):
    table = counting.layer_table(abstract_model('mobilenet_v2', alpha=alpha), (224, 224, 3))
    assert abs(table.macs / 1e6 - million_macs) < 1  # the paper rounds to millions


def test_make_divisible():
    assert make_divisible(32) == 32
    assert make_divisible(32 * 0.35) == 16  # 8 would be more than 10% below 11.2
    assert make_divisible(24 * 0.75) == 24  # 18 rounds to 16, 11% below, so up to 24
    assert make_divisible(1280 * 1.4) == 1792


def test_bad_width_multiplier_raises():
    with pytest.raises(ValueError, match='alpha'):
        build_model('mobilenet_v2', num_classes=10, rngs=nnx.Rngs(0), alpha=0.0)
    # v1 floors each width (int(alpha * width)): below 1/32 the 32-channel stem has none.
    with pytest.raises(ValueError, match=r'alpha=0.01 leaves layers no channels; use >= 1/32'):
        abstract_model('mobilenet_v1', alpha=0.01)
    with pytest.raises(ValueError, match='alpha=-1'):
        abstract_model('mobilenet_v1', alpha=-1)


@pytest.mark.parametrize(
    'name', ['resnet50_cifar', 'xception_cifar', 'mobilenet_v1_cifar', 'mobilenet_v2_cifar']
)
def test_cifar_variant_takes_one_sgd_step(name):
    # No dropout, so the loss before and after the step is the same function of the weights.
    model = host_init(name, dropout=0.0)
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    y = jnp.array([3, 7])
    loss, loss_after, grads, new_model = sgd_step(model, 1e-3, x, y)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert np.isfinite(loss) and loss_after < loss, (loss, loss_after)
    # Train mode updated the BatchNorm running statistics.
    before = jax.device_get(jax.tree.leaves(nnx.state(model, nnx.BatchStat)))
    after = jax.device_get(jax.tree.leaves(nnx.state(new_model, nnx.BatchStat)))
    assert any((a != b).any() for a, b in zip(before, after, strict=True))


# (config, train examples, classes, expected count, (epoch, learning rate) pairs of the recipe).
CONFIGS = [
    ('resnet50_imagenet', 1_281_167, 1000, 25_557_032, [(0, 0.1), (30, 0.01), (60, 0.001)]),
    ('xception_imagenet', 1_281_167, 1000, 22_855_952, [(0, 0.045), (2, 0.045 * 0.94)]),
    ('mobilenet_v1_imagenet', 1_281_167, 1000, 4_231_976, [(0, 0.045), (1, 0.045 * 0.98)]),
    ('mobilenet_v2_imagenet', 1_281_167, 1000, 3_504_872, [(0, 0.045), (1, 0.045 * 0.98)]),
    ('resnet50_cifar10', 50_000, 10, None, [(0, 0.1), (100, 0.05), (200, 0.0)]),
    ('xception_cifar10', 50_000, 10, None, [(0, 0.1), (100, 0.05), (200, 0.0)]),
    ('mobilenet_v1_cifar10', 50_000, 10, None, [(0, 0.1), (100, 0.05), (200, 0.0)]),
    ('mobilenet_v2_cifar10', 50_000, 10, None, [(0, 0.1), (100, 0.05), (200, 0.0)]),
]


@pytest.mark.parametrize('name,num_train,classes,count,rates', CONFIGS)
def test_config_builds_model_and_optimizer(name, num_train, classes, count, rates):
    """Each config's model and optimizer, built abstractly (no data, no arrays)."""
    config = importlib.import_module(f'configs.{name}').get_config()
    run = run_builder.build_run(config, num_train, classes, parallel.make_mesh())
    plan, schedule, state = run.plan, run.schedule, run.state
    assert plan.num_devices == 8 and plan.process_count == 1
    assert config.model.name.startswith(name.rsplit('_', 1)[0])
    params = counting.param_count(state.model)
    assert count is None or params == count
    # One slot per parameter for SGD's momentum, two for RMSProp's mean square and momentum,
    # plus a few step counters.
    slots = {'sgd': 1, 'rmsprop': 2}[config.optimizer.name]
    optimizer_scalars = sum(x.size for x in jax.tree.leaves(state.abstract[1]))
    assert 0 <= optimizer_scalars - slots * params < 8
    for epoch, rate in rates:
        step = min(epoch * plan.steps_per_epoch, plan.total_steps)
        assert float(schedule(step)) == pytest.approx(rate, rel=1e-5, abs=1e-7), (epoch, rate)
