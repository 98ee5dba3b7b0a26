"""Tests of GoogLeNet and Inception v3: exact counts, shapes at their resolutions, a real step.

Counts and shapes come from abstract models (`nnx.eval_shape`, `jax.eval_shape`): nothing is
initialized or computed. The CIFAR-size variants take one real SGD step on a batch of 2.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from abstract_models import abstract_model
from flax import nnx
from one_step import cross_entropy, host_init, sgd_step

from lineage import counting, parallel, run_builder, train_step
from lineage.blocks.inception import Inception
from lineage.models.googlenet import TABLE_1


def convbn(k, i, o):
    return k * k * i * o + 2 * o


def dense(i, o):
    return i * o + o


GOOGLENET_AUX = sum(convbn(1, i, 128) + dense(2048, 1024) + dense(1024, 1000) for i in (512, 528))
INCEPTION_V3_AUX = convbn(1, 768, 128) + convbn(5, 128, 768) + dense(768, 1000)


@pytest.mark.parametrize(
    'name,options,count',
    [
        ('googlenet', {'aux_logits': True}, 7_005_832 + GOOGLENET_AUX),
        ('inception_v3', {'aux_logits': True}, 27_161_264),
    ],
)
def test_exact_counts(name, options, count):
    assert counting.param_count(abstract_model(name, **options)) == count


def test_count_arithmetic():
    # torchvision's googlenet (6,624,904) has 3x3 convs in the 5x5 towers: 16 c5r c5 fewer each.
    assert 6_624_904 + sum(16 * w[3] * w[4] for w in TABLE_1.values()) == 7_005_832
    assert GOOGLENET_AUX == 6_379_984  # two heads, 1x1 conv 128, fc 1024, fc 1000
    assert 23_834_568 + INCEPTION_V3_AUX == 27_161_264
    # GoogLeNet is Table 1's modules, a stem, and the fc.
    modules = nnx.eval_shape(
        lambda: [Inception(i, *w, rngs=nnx.Rngs(0)) for i, w in zip(
            (192, 256, 480, 512, 512, 512, 528, 832, 832), TABLE_1.values(), strict=True)]
    )  # fmt: skip
    stem = convbn(7, 3, 64) + convbn(1, 64, 64) + convbn(3, 64, 192)
    total = stem + sum(counting.param_count(m) for m in modules) + dense(1024, 1000)
    assert total == 7_005_832


@pytest.mark.parametrize(
    'name,size,grids,macs',
    [
        # The paper: "1.5 billion multiply-adds".
        ('googlenet', 224, [112, 56, 28, 14, 7], 1_582_671_872),
        # The paper: "5 billion multiply-adds"; torchvision lists 5.71 GFLOPS (its MACs).
        ('inception_v3', 299, [149, 147, 73, 71, 35, 17, 8], 5_713_216_096),
    ],
)
def test_shapes_grids_and_macs_at_canonical_resolution(name, size, grids, macs):
    model = abstract_model(name)
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    assert jax.eval_shape(lambda m, x: m(x), model, x).shape == (2, 1000)
    table = counting.layer_table(model, (size, size, 3))
    seen = []
    for row in table.rows:
        if len(row.output_shape) == 3 and row.output_shape[0] not in seen:
            seen.append(row.output_shape[0])
    assert seen == grids
    assert table.macs == macs


@pytest.mark.parametrize('name,size,heads', [('googlenet', 224, 2), ('inception_v3', 299, 1)])
def test_aux_logits_in_training_mode_only(name, size, heads):
    model = abstract_model(name, aux_logits=True)
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    outputs = jax.eval_shape(lambda m, x: m(x), model, x)
    assert [o.shape for o in outputs] == [(2, 1000)] * (1 + heads)
    evaluating = nnx.view(model, use_running_average=True, deterministic=True)  # = model.eval()
    assert jax.eval_shape(lambda m, x: m(x), evaluating, x).shape == (2, 1000)


def test_googlenet_aux_head_rejects_other_grids():
    model = abstract_model('googlenet', aux_logits=True)
    with pytest.raises(ValueError, match='needs 4x4'):
        jax.eval_shape(
            lambda m, x: m(x), model, jax.ShapeDtypeStruct((1, 160, 160, 3), jnp.float32)
        )


def test_cifar_variants_keep_the_widths():
    assert counting.param_count(abstract_model('inception_v3_cifar')) == 23_834_568
    # One 3x3 conv 3 -> 192 replaces the 7x7, 1x1 and 3x3 stem convs.
    stem = convbn(7, 3, 64) + convbn(1, 64, 64) + convbn(3, 64, 192)
    cifar = abstract_model('googlenet_cifar')
    assert counting.param_count(cifar) == 7_005_832 - stem + convbn(3, 3, 192)


LEARNING_RATE = 0.01


@pytest.mark.parametrize('name,heads', [('googlenet_cifar', 2), ('inception_v3_cifar', 1)])
def test_cifar_variant_takes_one_sgd_step_with_aux_loss(name, heads):
    model = host_init(name, aux_logits=True)
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    y = jnp.array([3, 7])

    def loss_fn(m, x, y):
        logits, *aux = m(x)
        assert len(aux) == heads
        ce = [cross_entropy(z, y) for z in aux]
        return cross_entropy(logits, y) + 0.3 * sum(ce)  # the paper's auxiliary weight

    loss, _, grads, new_model = sgd_step(model, LEARNING_RATE, x, y, loss_fn)
    assert np.isfinite(loss) and loss > 0
    old_params = jax.device_get(nnx.state(model, nnx.Param))
    new_params = jax.device_get(nnx.state(new_model, nnx.Param))
    g = jax.tree.leaves(grads)
    assert all(np.isfinite(v).all() for v in g)
    assert all((v != 0).any() for v in g), 'a layer (an auxiliary head?) got no gradient'
    # Plain SGD: new = old - lr * grad, for every parameter.
    for old, new, grad in zip(jax.tree.leaves(old_params), jax.tree.leaves(new_params), g,
                              strict=True):  # fmt: skip
        np.testing.assert_allclose(new, old - LEARNING_RATE * grad, rtol=1e-5, atol=1e-7)
    # Training mode moved the BatchNorm running statistics.
    before = jax.device_get(jax.tree.leaves(nnx.state(model, nnx.BatchStat)))
    after = jax.device_get(jax.tree.leaves(nnx.state(new_model, nnx.BatchStat)))
    assert all((a != b).any() for a, b in zip(before, after, strict=True))


def test_bfloat16_compute_float32_logits():
    model = abstract_model('googlenet_cifar', num_classes=10, dtype=jnp.bfloat16)
    x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    logits = jax.eval_shape(lambda m, x: m(x), model, x)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    assert {p.dtype for p in jax.tree.leaves(nnx.state(model, nnx.Param))} == {jnp.dtype('float32')}


# (config, train examples, classes, expected count, (epoch, learning rate) pairs of the recipe).
CONFIGS = [
    # 0.01 at batch 32, scaled to 256; x0.96 every 8 epochs. Count: with the 2 auxiliary heads.
    ('googlenet_imagenet', 1_281_167, 1000, 7_005_832 + GOOGLENET_AUX,
     [(0, 0.08), (8, 0.08 * 0.96), (16, 0.08 * 0.96**2)]),
    ('inception_v3_imagenet', 1_281_167, 1000, 27_161_264, [(0, 0.045), (2, 0.045 * 0.94)]),
    ('googlenet_cifar10', 50_000, 10, None, [(0, 0.1), (100, 0.05), (200, 0.0)]),
    ('inception_v3_cifar10', 50_000, 10, None, [(0, 0.1), (100, 0.05), (200, 0.0)]),
]  # fmt: skip


@pytest.mark.parametrize('name,num_train,classes,count,rates', CONFIGS)
def test_config_builds_model_and_optimizer(name, num_train, classes, count, rates):
    """Each config's model and optimizer, built abstractly (no data, no arrays)."""
    config = importlib.import_module(f'configs.{name}').get_config()
    run = run_builder.build_run(config, num_train, classes, parallel.make_mesh())
    plan, schedule, state = run.plan, run.schedule, run.state
    assert plan.num_devices == 8 and plan.process_count == 1
    assert config.model.name.startswith(name.rsplit('_', 1)[0])
    # The auxiliary heads train where the papers' recipes use them: GoogLeNet 0.3, v3 0.4.
    aux_weight = {'googlenet_imagenet': 0.3, 'inception_v3_imagenet': 0.4}.get(name, 0.0)
    assert config.aux_loss_weight == aux_weight
    assert config.model.aux_logits == (aux_weight > 0)
    if count is not None:
        assert counting.param_count(state.model) == count
    assert jax.tree.leaves(state.abstract)
    for epoch, rate in rates:
        step = min(epoch * plan.steps_per_epoch, plan.total_steps)
        assert float(schedule(step)) == pytest.approx(rate, rel=1e-5, abs=1e-7), (epoch, rate)


class TwoHeads(nnx.Module):
    """A dense 'network' with one auxiliary head, returned in training mode like GoogLeNet's."""

    def __init__(self, rngs):
        self.main = nnx.Linear(3, 4, rngs=rngs)
        self.aux = nnx.Linear(3, 4, rngs=rngs)
        self.norm = nnx.BatchNorm(3, rngs=rngs)  # holds the train/eval mode

    def __call__(self, x):
        x = self.norm(x.reshape(x.shape[0], -1)[:, :3])
        training = not self.norm.use_running_average
        return (self.main(x), self.aux(x)) if training else self.main(x)


def test_train_step_adds_the_weighted_auxiliary_loss():
    replicated = parallel.replicated(parallel.make_mesh())
    model = TwoHeads(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.sgd(0.0), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))
    batch = {
        'image': jax.random.normal(jax.random.key(0), (8, 1, 1, 3)),
        'label': jnp.arange(8) % 4,
    }
    x = model.norm(batch['image'].reshape(8, 3))
    ce = [optax.softmax_cross_entropy_with_integer_labels(h(x), batch['label']).mean()
          for h in (model.main, model.aux)]  # fmt: skip
    for weight in (0.0, 0.4):
        step = train_step.make_train_step(graphdef, replicated, aux_loss_weight=weight)
        _, metrics = step(jax.tree.map(jnp.copy, state), batch)
        assert float(metrics['loss']) == pytest.approx(float(ce[0] + weight * ce[1]), rel=1e-5)
