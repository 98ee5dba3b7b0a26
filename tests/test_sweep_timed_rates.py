"""A sweep point's train step timed for the estimate (`run_sweep --plan --time_steps`): the
point's real step, at its batch's shape."""

import json
from concurrent import futures

import pytest

from experiments import step_timer
from experiments.sweeping import estimate, sweeps, timed_rates


def test_the_points_own_step_trains_and_its_median_time_sets_the_rate(monkeypatch):
    (point,) = [
        p
        for p in sweeps.with_budget(
            'separable_act_digits', sweeps.sweep_points('separable_act_digits', seeds=[0]), 2.0
        )
        if p.name == 'separable-elu-s0'
    ]
    config = estimate.point_config(point)
    assert config.model.block_options.mid_act == 'elu'
    assert timed_rates.image_shape(config.dataset) == (16, 16, 1)
    losses = []

    def timed(step, warmup, steps, ready):
        assert (warmup, steps, ready) == (3, 7, None)
        losses.extend(float(step()['loss']) for _ in range(3))  # the real step, 3 times
        return [0.5, 0.25, 1.0], 0.0

    monkeypatch.setattr(step_timer, 'time_steps', timed)
    assert timed_rates.step_images_per_sec(config, steps=7) == config.batch_size / 0.5
    assert losses[2] < losses[0]  # it trains: the same batch, three times


def test_only_committed_runs_on_this_host_give_the_share(tmp_path):
    def run(sweep, name, cpu, rate, cores=2, resumed_from=None):
        directory = tmp_path / sweep / 'e40' / name
        directory.mkdir(parents=True)
        fields = {'train_images_per_sec': rate, 'host': {'cpu': cpu, 'cores': cores}}
        if resumed_from:  # resumed here from another machine's checkpoint
            fields['hosts'] = [{'cpu': resumed_from, 'cores': 2}, fields['host']]
        (directory / 'results.json').write_text(json.dumps(fields))

    run('spectrum', 'spectrum-g1-s0', 'family 26', 900.0)
    run('spectrum', 'spectrum-g1-s1', 'family 25', 500.0)  # another CPU
    run('spectrum', 'spectrum-g1-s2', 'family 26', 1600.0, cores=4)  # the same CPU, more cores
    run('spectrum', 'spectrum-g16-s0', 'family 26', 700.0)  # another point
    run('spectrum', 'spectrum-g1-s3', 'family 26', 300.0, resumed_from='family 25')
    # The ladder's rung is separable_act's 'none': filed under both, one run.
    run('ladder', 'separable-s0', 'family 26', 400.0)
    run('separable_act', 'separable-s0', 'family 26', 400.0)
    host = {'cpu': 'family 26', 'cores': 2}
    assert timed_rates.trained_here(str(tmp_path), 'spectrum', 'e40', 'spectrum-g1', host) == [
        900.0
    ]
    assert timed_rates.trained_here(str(tmp_path), 'claims', 'e40', 'separable', host) == [400.0]


def _digits_point():
    points = sweeps.sweep_points('ladder_digits', seeds=[0])[:1]
    return sweeps.with_budget('ladder_digits', points, 1.0)


def test_the_runner_times_in_a_child_that_gives_the_accelerator_back():
    # The rates come back from a spawned process, whose jax (and its device) ends with it.
    rates = timed_rates.time_points_apart(_digits_point(), steps=1)
    assert list(rates) == ['plain3x3'] and rates['plain3x3'] > 0


def test_a_child_that_dies_while_timing_raises(monkeypatch):
    monkeypatch.setenv('XLA_FLAGS', '--xla_no_such_flag')  # XLA exits at its first use
    with pytest.raises(futures.process.BrokenProcessPool):
        timed_rates.time_points_apart(_digits_point(), steps=1)
