"""The sweep plan: points left, where interrupted ones resume, hours from measured images/s."""

import json
import os

import pytest

from experiments.sweeping import estimate, sweeps
from lineage.metrics import host_info


def _finished(directory, **fields):
    os.makedirs(directory)
    with open(os.path.join(directory, 'results.json'), 'w') as f:
        json.dump(fields, f)


def test_plan_counts_images_left_at_measured_speed(tmp_path):
    points = sweeps.with_budget(
        'ladder_digits', sweeps.sweep_points('ladder_digits', seeds=[0])[:3], 2.0
    )
    root = tmp_path / 'e2'
    # plain3x3 measured at 100 img/s, 20 s beyond its training time (compile, eval).
    _finished(
        tmp_path / 'old' / 'plain3x3-s5', dataset='digits', block='plain3x3',
        train_images_per_sec=100.0, train_steps=10, global_batch=64, wall_time_s=26.4,
    )  # fmt: skip
    _finished(root / 'naive_inception-s0', dataset='digits')  # finished: not in the plan
    (root / 'plain5x5-s0' / 'checkpoints' / '22').mkdir(parents=True)  # interrupted
    evidence = estimate.Evidence(str(root), [str(tmp_path / 'old')])
    left = estimate.remaining(points, evidence)
    assert [p.point for p in left] == ['plain3x3-s0', 'plain5x5-s0']
    plain, five = left
    # 1,437 digits // 64 = 22 steps an epoch, 2 epochs = 44 steps.
    assert (plain.done_steps, plain.total_steps, plain.images) == (0, 44, 44 * 64)
    assert plain.images_per_sec == 100.0 and plain.source == 'this point, other budgets'
    assert plain.hours == pytest.approx((44 * 64 / 100 + 20) / 3600)
    assert (five.done_steps, five.images) == (22, 22 * 64)
    assert five.source == 'default' and five.images_per_sec == estimate.DEFAULT_IMAGES_PER_SEC
    # Once it has logged its own images/s, those are its rate.
    logged = [
        {'step': 10, 'images_per_sec': 40.0}, {'step': 20, 'eval_top1': 0.5},
        {'step': 22, 'images_per_sec': 60.0}, {'step': 30, 'images_per_sec': 50.0},
    ]  # fmt: skip
    (root / 'plain5x5-s0' / 'metrics.jsonl').write_text(
        ''.join(json.dumps(m) + '\n' for m in logged)
    )
    five = estimate.remaining(points, evidence)[1]
    assert (five.images_per_sec, five.source) == (50.0, 'its own log')
    text = estimate.describe('ladder_digits', points, evidence)
    assert 'resumes at step 22' in text
    assert '1 of 3 points finished (0 of them committed), 2 left' in text


def test_runs_of_the_same_length_set_the_rate_when_there_are_any(tmp_path):
    points = sweeps.with_budget('ladder_digits', sweeps.sweep_points('ladder_digits', [0])[:1], 2.0)
    for seed, steps, ips in ((5, 22, 100.0), (6, 44, 60.0), (7, 44, 70.0), (8, 22, 110.0)):
        _finished(
            tmp_path / 'old' / f'plain3x3-s{seed}', dataset='digits', block='plain3x3',
            train_images_per_sec=ips, train_steps=steps, global_batch=64, wall_time_s=60.0,
        )  # fmt: skip
    evidence = estimate.Evidence(str(tmp_path / 'e2'), [str(tmp_path / 'old')])
    (plain,) = estimate.remaining(points, evidence)
    # 2 epochs of digits are 44 steps: the two 44-step runs, not all four (median 85).
    assert (plain.images_per_sec, plain.source) == (65.0, 'this point, this budget')
    # A run resumed on another machine (its rate mixes two CPUs) sets no rate.
    _finished(
        tmp_path / 'old' / 'plain3x3-s9', dataset='digits', block='plain3x3',
        train_images_per_sec=10.0, train_steps=44, global_batch=64, wall_time_s=60.0,
        hosts=[{'cpu': 'a', 'cores': 2}, {'cpu': 'b', 'cores': 2}],
    )  # fmt: skip
    (plain,) = estimate.remaining(points, evidence)
    assert (plain.images_per_sec, plain.source) == (65.0, 'this point, this budget')


def test_committed_results_count_as_finished_on_a_fresh_root(tmp_path):
    # A new machine's root is empty; the points `run_sweep --collect` filed under
    # experiments/results/<sweep>/<budget>/ finished elsewhere and are not planned again.
    points = sweeps.with_budget(
        'ladder_digits', sweeps.sweep_points('ladder_digits', seeds=[0])[:3], 2.0
    )
    results = tmp_path / 'results'
    _finished(results / 'ladder_digits' / 'e2' / 'plain3x3-s0', dataset='digits')
    _finished(results / 'ladder_digits' / 'e4' / 'plain5x5-s0', dataset='digits')  # other budget
    (results / 'ladder_digits' / 'e2' / 'naive_inception-s0').mkdir()  # no results.json
    committed = estimate.committed(['ladder_digits', 'spectrum_digits'], str(results), 'e2')
    assert committed == {'plain3x3-s0'}
    root = str(tmp_path / 'fresh' / 'e2')
    evidence = estimate.Evidence(root, [str(results)], committed)
    left = estimate.remaining(points, evidence)
    assert [p.point for p in left] == ['plain5x5-s0', 'naive_inception-s0']
    text = estimate.describe('ladder_digits', points, evidence)
    assert '1 of 3 points finished (1 of them committed), 2 left' in text


def test_budget_names_the_workdirs_and_shared_points_run_once():
    points = sweeps.sweep_points('ablations')
    names = [p.name for p in points]
    # ladder, separable_act's two activations, linear_bottleneck's ReLU6, factorization's 5x5,
    # equal_params' five re-widthed rungs, spectrum, ladder_matched.
    assert len(names) == len(set(names)) == 9 * 3 + 2 * 3 + 3 + 3 + 5 * 3 + 4 * 3 + 9
    assert sweeps.budget_tag(10.0) == 'e10' and sweeps.budget_tag(None) == ''
    ten = sweeps.with_budget('ladder', points[:1], 10)
    assert ten[0].overrides['num_epochs'] == 10.0 and ten[0].overrides['num_train_steps'] == -1
    with pytest.raises(ValueError, match="sweep 'curve' sets each point's epochs"):
        sweeps.with_budget('curve', sweeps.sweep_points('curve'), 10)


def test_a_timed_step_sets_the_rate_where_no_run_measured_this_budget_here(tmp_path):
    points = sweeps.with_budget(
        'ladder_digits', sweeps.sweep_points('ladder_digits', seeds=[0, 1])[:6], 2.0
    )
    assert [p.name for p in points][::2] == ['plain3x3-s0', 'plain5x5-s0', 'naive_inception-s0']
    old, here = tmp_path / 'old', host_info()
    elsewhere = {**here, 'cpu': 'another CPU'}
    # This budget here, another budget here, this budget on another machine.
    for name, steps, host in (('plain3x3-s5', 44, here), ('plain5x5-s5', 22, here),
                              ('naive_inception-s5', 44, elsewhere)):  # fmt: skip
        _finished(
            old / name, dataset='digits', block=name.split('-')[0], host=host,
            train_images_per_sec=100.0, train_steps=steps, global_batch=64, wall_time_s=40.0,
        )  # fmt: skip
    root = str(tmp_path / 'e2')
    untimed = estimate.remaining(points, estimate.Evidence(root, [str(old)]))
    assert {p.point: p.source for p in untimed}['naive_inception-s0'] == 'this point, this budget'
    # plain3x3 was measured at this budget on this machine; the others are timed, one seed each.
    chosen = estimate.to_time(points, untimed)
    assert [p.name for p in chosen] == ['plain5x5-s0', 'naive_inception-s0']
    timed = {'plain3x3': 999.0, 'plain5x5': 200.0, 'naive_inception': 50.0}
    timed_here = estimate.Evidence(root, [str(old)], timed=timed)
    left = {p.point: p for p in estimate.remaining(points, timed_here)}
    assert (left['plain3x3-s1'].images_per_sec, left['plain3x3-s1'].source) == (
        100.0,
        'this point, this budget here',
    )
    for name, rate in (('plain5x5-s1', 200.0), ('naive_inception-s0', 50.0)):
        assert left[name].source == 'its step timed here'
        assert left[name].images_per_sec == pytest.approx(rate * estimate.ACHIEVED_SHARE)


def test_with_jobs_a_rate_measured_on_one_points_share_comes_first_and_wall_hours_divide(tmp_path):
    points = sweeps.with_budget(
        'ladder_digits', sweeps.sweep_points('ladder_digits', [0, 1])[:4], 2.0
    )
    here = host_info()
    share = {**here, 'cores': 1}  # --jobs=2 on 2 cores: one core a point
    for seed, host, ips in ((5, {**here, 'cores': 2}, 600.0), (6, share, 400.0)):
        _finished(
            tmp_path / 'old' / f'plain3x3-s{seed}', dataset='digits', block='plain3x3', host=host,
            train_images_per_sec=ips, train_steps=44, global_batch=64, wall_time_s=60.0,
        )  # fmt: skip
    root, old = str(tmp_path / 'e2'), [str(tmp_path / 'old')]
    by_host = {
        cores: estimate.remaining(
            points, estimate.Evidence(root, old, host={**here, 'cores': cores})
        )[0]
        for cores in (1, 2)
    }
    assert (by_host[1].images_per_sec, by_host[1].source) == (400.0, 'this point, this budget here')
    assert by_host[2].images_per_sec == 600.0
    # Points in order, each starting when the first of the running ones ends.
    assert estimate.wall_hours([3.0, 1.0, 1.0, 1.0], 2) == 3.0
    assert estimate.wall_hours([1.0, 1.0, 1.0], 2) == 2.0
    assert estimate.wall_hours([1.0, 2.0], 1) == 3.0
    on_a_share = estimate.Evidence(root, old, host=share)
    text = estimate.describe('ladder_digits', points, on_a_share, jobs=2)
    hours = [p.hours for p in estimate.remaining(points, on_a_share)]
    assert text.splitlines()[-1] == (
        f'total: {sum(hours):.1f} h for 4 points; {estimate.wall_hours(hours, 2):.1f} h of wall '
        'clock at --jobs=2 (each point at its rate on a share of 1 core(s))'
    )


def test_a_carried_checkpoint_is_where_a_point_resumes_when_its_workdir_has_none(tmp_path):
    points = sweeps.with_budget('ladder_digits', sweeps.sweep_points('ladder_digits', [0])[:2], 2.0)
    root, carried = tmp_path / 'e2', tmp_path / 'carried' / 'digits' / 'e2'
    (carried / 'plain3x3-s0' / 'checkpoints' / '30').mkdir(parents=True)
    (carried / 'plain3x3-s0' / 'metrics.jsonl').write_text('{"step": 30, "images_per_sec": 70.0}\n')
    (carried / 'plain5x5-s0' / 'checkpoints' / '30').mkdir(parents=True)
    (root / 'plain5x5-s0' / 'checkpoints' / '40').mkdir(parents=True)  # further on this machine
    evidence = estimate.Evidence(str(root), [], carried=str(carried))
    plain, five = estimate.remaining(points, evidence)
    assert (plain.done_steps, plain.images_per_sec, plain.source) == (30, 70.0, 'its own log')
    assert five.done_steps == 40
    # Without the carried directory, the point is new.
    assert estimate.remaining(points, estimate.Evidence(str(root), []))[0].done_steps == 0


def test_a_point_resumes_from_its_carried_copy_only_where_its_workdir_is_bare(tmp_path):
    workdir, kept = tmp_path / 'root' / 'p-s0', tmp_path / 'carried' / 'p-s0'
    (kept / 'checkpoints' / '30').mkdir(parents=True)
    assert estimate.resumes_from(str(workdir), str(kept)) == str(kept)
    assert estimate.resumes_from(str(workdir), '') == str(workdir)  # no carried directory
    _finished(workdir)  # results.json: finished here, whatever was carried
    assert estimate.resumes_from(str(workdir), str(kept)) == str(workdir)
    os.remove(workdir / 'results.json')
    (workdir / 'checkpoints' / '10').mkdir(parents=True)  # this machine's own checkpoint wins
    assert estimate.resumes_from(str(workdir), str(kept)) == str(workdir)
    bare = tmp_path / 'carried' / 'q-s0'
    bare.mkdir()  # a carried directory with no checkpoint in it
    assert estimate.resumes_from(str(tmp_path / 'root' / 'q-s0'), str(bare)) == str(
        tmp_path / 'root' / 'q-s0'
    )
