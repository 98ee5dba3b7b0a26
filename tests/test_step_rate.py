"""A sweep point's train step timed for --plan: the point's real step, at its batch's shape."""

from experiments import step_rate, sweep_plan, sweeps
from experiments.bench_workers import protocol


def test_the_points_own_step_trains_and_its_median_time_sets_the_rate(monkeypatch):
    (point,) = [
        p
        for p in sweeps.with_budget(
            'separable_act_digits', sweeps.sweep_points('separable_act_digits', seeds=[0]), 2.0
        )
        if p.name == 'separable-elu-s0'
    ]
    config = sweep_plan.point_config(point)
    assert config.model.block_options.mid_act == 'elu'
    assert step_rate.image_shape(config.dataset) == (16, 16, 1)
    losses = []

    def timed(step, warmup, steps):
        assert (warmup, steps) == (3, 7)
        losses.extend(float(step()['loss']) for _ in range(3))  # the real step, 3 times
        return [0.5, 0.25, 1.0], 0.0

    monkeypatch.setattr(protocol, 'time_steps', timed)
    assert step_rate.step_images_per_sec(config, steps=7) == config.batch_size / 0.5
    assert losses[2] < losses[0]  # it trains: the same batch, three times
