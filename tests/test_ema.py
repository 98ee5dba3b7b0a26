"""The parameter average (lineage.ema) in the real train step, against a hand-computed one."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from configs import default
from lineage import ema, run_builder, train_step


def params(model_state):
    return {
        p: np.asarray(v.get_value())
        for p, v in nnx.to_flat_state(model_state)
        if isinstance(v, nnx.Param)
    }


def test_average_follows_tensorflows_num_updates_rule():
    config = default.get_config()
    config.model.widths, config.model.depths = (4, 8), (1, 1)
    config.ema_decay = 0.5
    config.num_devices, config.batch_size = 1, 8
    config.optimizer.update(learning_rate=0.5, momentum=0.0, weight_decay=0.0)  # plain SGD
    config.schedule.update(name='constant', warmup_epochs=0.0)
    run = run_builder.build_run(config, num_train=8, num_classes=10)
    state_def, step = run.state, run.train_step
    state = state_def.init()
    rng = np.random.default_rng(0)
    batch = {
        'image': jnp.asarray(rng.normal(size=(8, 16, 16, 1)), jnp.float32),
        'label': jnp.asarray(rng.integers(0, 10, 8)),
    }
    average = params(state[0])
    assert all(np.array_equal(average[p], v) for p, v in params(state[2]).items())
    for t in range(3):
        state, _ = step(state, batch)
        d = min(0.5, (1 + t) / (10 + t))  # 0.1, 0.1818..., 0.25: the warm-up, under 0.5
        assert np.isclose(float(ema.decay_at(0.5, t)), d)
        model = params(state[0])
        average = {p: d * average[p] + (1 - d) * model[p] for p in average}
    got = params(state[2])
    assert max(np.abs(got[p] - average[p]).max() for p in got) < 1e-6
    assert max(np.abs(got[p] - model[p]).max() for p in got) > 1e-3  # not the model itself
    evaluated = params(train_step.eval_part(state))  # evaluation reads the average
    assert all(np.array_equal(evaluated[p], got[p]) for p in got)
    stats = [
        np.array_equal(a.get_value(), b.get_value())
        for (_, a), (_, b) in zip(
            nnx.to_flat_state(nnx.state(nnx.merge(state_def.graphdef, state)[0], nnx.BatchStat)),
            nnx.to_flat_state(nnx.state(nnx.merge(state_def.graphdef, state)[2], nnx.BatchStat)),
            strict=True,
        )
    ]
    assert stats and all(stats)  # BatchNorm statistics: the model's own
