"""The one assembly of a run: its steps trace under the config's conv form, whoever calls them;
evaluation alone holds no optimizer; the step timers' optimizer is the peers' plain SGD."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.bench.workers import lineage_worker
from lineage import run_builder, train_step
from lineage.blocks import conv_algorithms
from tests.tiny import tiny_config


def test_the_steps_trace_under_the_configs_conv_form_whatever_the_caller_set(monkeypatch):
    traced = []
    shift = conv_algorithms.FORMS['shift']
    monkeypatch.setitem(conv_algorithms.FORMS, 'shift', lambda *a: traced.append(1) or shift(*a))
    run = run_builder.build_run(tiny_config(conv_impl='shift', num_devices=1), 64, 10)
    state = run.state.init()
    batch = run_builder.synthetic_batch(run, (16, 16, 1))
    assert batch['image'].shape == (16, 16, 16, 1) and batch['label'].shape == (16,)
    with conv_algorithms.conv_impl('xla'):  # a caller's setting does not reach the run's steps
        state, metrics = run.train_step(state, batch)
    assert traced and np.isfinite(float(metrics['loss']))
    assert conv_algorithms.get_conv_impl() == 'auto'  # and the run's setting stays in its steps
    traced.clear()
    totals = train_step.eval_totals(10, run.replicated)
    batch = {**batch, 'mask': jnp.ones(16, jnp.float32)}
    lowered = run.eval_step.trace(train_step.eval_part(state), batch, totals).lower()
    assert traced and lowered.as_text()


def test_evaluation_only_holds_no_optimizer_state_and_no_train_step():
    trained = run_builder.build_run(tiny_config(num_devices=1), 64, 10)
    evaluated = run_builder.build_run(tiny_config(num_devices=1), 64, 10, evaluation_only=True)
    assert evaluated.train_step is None and trained.train_step is not None
    slots = lambda run: sum(x.size for x in jax.tree.leaves(run.state.abstract[1]))  # noqa: E731
    params = sum(x.size for x in jax.tree.leaves(trained.state.abstract[0]))
    assert slots(evaluated) < 4 and slots(trained) > params // 2  # the momentum


@pytest.mark.parametrize('nesterov', [False, True])
def test_the_timers_optimizer_is_plain_sgd_with_momentum_as_the_peers_run(nesterov):
    # torch.optim.SGD(lr, momentum, nesterov) is optax.sgd's update; no decay, no clipping.
    config = lineage_worker.step_config('ladder', 8, 0.01, 0.9, nesterov=nesterov)
    run = run_builder.build_run(config, 8, 10)
    reference = optax.sgd(0.01, momentum=0.9, nesterov=nesterov)
    rng = np.random.default_rng(0)
    params = {'kernel': jnp.asarray(rng.normal(size=(3, 3, 4, 4)), jnp.float32)}
    ours, theirs = run.optimizer.init(params), reference.init(params)
    for _ in range(3):
        grads = {'kernel': jnp.asarray(rng.normal(size=(3, 3, 4, 4)), jnp.float32)}
        a, ours = run.optimizer.update(grads, ours, params)
        b, theirs = reference.update(grads, theirs, params)
        np.testing.assert_allclose(a['kernel'], b['kernel'], rtol=1e-6)
