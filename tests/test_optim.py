"""Optimizer and schedule from config: values at known steps, the decay mask, the plan."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from configs import default
from lineage import optim, plan
from lineage.models import build_model


def config_with(**fields):
    config = default.get_config()
    config.update_from_flattened_dict(fields)  # dotted names: {'model.widths': (4, 8)}
    return config


def test_plan_arithmetic():
    config = config_with(batch_size=64, num_epochs=3.0, **{'optimizer.lr_reference_batch': 256})
    p = plan.make_plan(config, num_train=1000, num_devices=8, process_count=2)
    assert (p.steps_per_epoch, p.total_steps, p.process_batch) == (15, 45, 32)
    assert p.warmup_steps == 15  # 1 epoch
    assert p.decay_every_steps == 30  # 2 epochs
    assert p.learning_rate == pytest.approx(0.1 * 64 / 256)
    p = plan.make_plan(config_with(num_train_steps=7), 1000, 1, 1)
    assert p.total_steps == 7


def test_batch_not_divisible_over_devices():
    with pytest.raises(
        ValueError,
        match=r'batch_size=100 does not divide over 8 devices; use a '
        r'multiple of 8 \(e.g. 96 or 104\)',
    ):
        plan.make_plan(config_with(batch_size=100), 1000, 8, 1)


@pytest.mark.parametrize(
    'key,value,message',
    [
        ('optimizer.name', 'adamx', "unknown optimizer 'adamx'.*adamw, rmsprop, sgd"),
        ('schedule.name', 'step', "unknown schedule 'step'.*constant, cosine, exponential"),
        ('dtype', 'float16', "unknown dtype 'float16'.*float32, bfloat16"),
        ('label_smoothing', 1.5, r'label_smoothing=1.5'),
    ],
)
def test_bad_values(key, value, message):
    with pytest.raises(ValueError, match=message):
        plan.make_plan(config_with(**{key: value}), 1000, 1, 1)


def schedule_of(**fields):
    config = config_with(batch_size=10, num_epochs=10.0, **fields)
    p = plan.make_plan(config, num_train=100, num_devices=1, process_count=1)  # 10 steps/epoch
    return optim.learning_rate_schedule(config, p)


def test_warmup_cosine_values():
    lr = schedule_of(**{'schedule.warmup_epochs': 1.0, 'optimizer.learning_rate': 0.4})
    assert float(lr(0)) == 0.0
    assert float(lr(5)) == pytest.approx(0.2)
    assert float(lr(10)) == pytest.approx(0.4)
    # halfway through the 90 decay steps, cosine is at half the peak; 0 at the end.
    assert float(lr(55)) == pytest.approx(0.2, abs=1e-6)
    assert float(lr(100)) == pytest.approx(0.0, abs=1e-7)


def test_exponential_every_two_epochs():
    lr = schedule_of(
        **{
            'schedule.name': 'exponential',
            'schedule.warmup_epochs': 0.0,
            'schedule.decay_epochs': 2.0,
            'schedule.decay_rate': 0.5,
            'optimizer.learning_rate': 1.0,
        }
    )
    assert [float(lr(s)) for s in (0, 19, 20, 39, 40, 60)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


def test_exponential_after_warmup():
    lr = schedule_of(
        **{'schedule.name': 'exponential', 'schedule.decay_rate': 0.5, 'schedule.decay_epochs': 1.0}
    )
    # 10 warmup steps to 0.1, then halving every 10 steps counted from the end of warmup.
    assert float(lr(5)) == pytest.approx(0.05)
    assert [float(lr(s)) for s in (10, 19, 20)] == pytest.approx([0.1, 0.1, 0.05])


def test_mask_excludes_batchnorm_and_biases():
    model = build_model(
        'ladder', num_classes=3, rngs=nnx.Rngs(0), widths=(4,), depths=(1,), in_channels=1
    )
    mask = optim.weight_decay_mask(nnx.state(model, nnx.Param))
    flat = {'/'.join(map(str, k)): v for k, v in nnx.to_flat_state(mask)}
    decayed = sorted(k for k, v in flat.items() if v.get_value())
    assert decayed == [
        'blocks/0/conv1/kernel',
        'blocks/0/conv2/kernel',
        'head/fc/linear/kernel',
        'stem/kernel',
    ]
    assert 'head/fc/linear/bias' in flat and 'stem/norm/scale' in flat


def one_step(params, grads, **fields):
    config = config_with(
        batch_size=1, num_train_steps=10, **{'schedule.name': 'constant', **fields}
    )
    schedule = optim.learning_rate_schedule(config, plan.make_plan(config, 10, 1, 1))
    tx = optim.make_optimizer(config, schedule)
    updates, _ = tx.update(grads, tx.init(params), params)
    return optax.apply_updates(params, updates)


PARAMS = {'kernel': jnp.full((1, 2), 2.0), 'bias': jnp.full((2,), 2.0)}
GRADS = {'kernel': jnp.full((1, 2), 0.5), 'bias': jnp.full((2,), 0.5)}


def test_sgd_decays_kernels_only():
    new = one_step(
        PARAMS,
        GRADS,
        **{
            'optimizer.weight_decay': 0.1,
            'optimizer.nesterov': False,
            'schedule.warmup_epochs': 0.0,
        },
    )
    # first momentum step: lr * (g + wd * p) for kernels, lr * g for biases.
    np.testing.assert_allclose(new['kernel'], 2.0 - 0.1 * (0.5 + 0.1 * 2.0))
    np.testing.assert_allclose(new['bias'], 2.0 - 0.1 * 0.5)
    new = one_step(
        PARAMS,
        GRADS,
        **{
            'optimizer.weight_decay': 0.1,
            'optimizer.nesterov': False,
            'schedule.warmup_epochs': 0.0,
            'optimizer.decay_norm_and_bias': True,
        },
    )
    np.testing.assert_allclose(new['bias'], 2.0 - 0.1 * (0.5 + 0.1 * 2.0))


def test_rmsprop_is_tensorflow_form():
    new = one_step(
        PARAMS,
        GRADS,
        **{
            'optimizer.name': 'rmsprop',
            'optimizer.weight_decay': 0.0,
            'schedule.warmup_epochs': 0.0,
        },
    )
    # mean square starts at 1: ms = 0.9 + 0.1 g^2; step = lr g / sqrt(ms + eps), eps = 1.
    ms = 0.9 + 0.1 * 0.25
    np.testing.assert_allclose(new['bias'], 2.0 - 0.1 * 0.5 / np.sqrt(ms + 1.0), rtol=1e-6)


def test_adamw_decoupled_decay_and_clipping():
    new = one_step(
        PARAMS,
        GRADS,
        **{
            'optimizer.name': 'adamw',
            'optimizer.weight_decay': 0.1,
            'schedule.warmup_epochs': 0.0,
            'optimizer.learning_rate': 0.01,
        },
    )
    # Adam's first step is lr * sign(g); AdamW adds lr * wd * p on kernels only.
    np.testing.assert_allclose(new['kernel'], 2.0 - 0.01 * (1.0 + 0.1 * 2.0), rtol=1e-5)
    np.testing.assert_allclose(new['bias'], 2.0 - 0.01, rtol=1e-5)
    big = jax.tree.map(lambda g: g * 100, GRADS)
    new = one_step(
        PARAMS,
        big,
        **{
            'optimizer.grad_clip_norm': 1.0,
            'optimizer.weight_decay': 0.0,
            'optimizer.nesterov': False,
            'schedule.warmup_epochs': 0.0,
        },
    )
    # global norm of four 50s is 100; clipped to 1, each gradient becomes 0.5.
    np.testing.assert_allclose(new['bias'], 2.0 - 0.1 * 0.5, rtol=1e-6)
