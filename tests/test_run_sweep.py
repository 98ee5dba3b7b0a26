"""The sweep runner: finished points are skipped, a failed point is reported and the rest run,
SIGTERM stops it with the running point checkpointed, finished points are collected for commit."""

import json
import logging
import os
import subprocess
import sys

import pytest

from experiments import run_sweep
from experiments.sweeping import estimate, sweeps
from experiments.sweeping.sweeps import Point

POINTS = [
    Point('a-s0', 'configs/ladder_digits.py', {'model.block': 'plain3x3', 'seed': 0}),
    Point('b-s0', 'configs/ladder_digits.py:segments', {'model.block_options.segments': 4}),
    Point('c-s0', 'configs/ladder_digits.py', {'model.widths': (8, 16, 32)}),
]


def _write_results(workdir, **fields):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
        json.dump(fields or {'top1': 0.5}, f)


class Ended:
    """A child process that has already ended with `returncode`."""

    def __init__(self, returncode):
        self.returncode = returncode

    def poll(self):
        return self.returncode

    def send_signal(self, signum):
        pass


class FakeRun:
    """Starts a stand-in for the child process: records commands and cores; 'fails' the points
    named in `fail`, finishes the others by writing their results.json."""

    def __init__(self, fail=()):
        self.fail = set(fail)
        self.commands = []
        self.cores = []

    def __call__(self, command, log, cores):
        self.commands.append(command)
        self.cores.append(cores)
        workdir = command[-1].split('=', 1)[1]
        log.write(f'ran {workdir}\n')
        if os.path.basename(workdir) in self.fail:
            return Ended(3)
        _write_results(workdir)
        return Ended(0)


def test_point_command_passes_config_overrides_and_workdir(tmp_path):
    command = run_sweep.point_command(POINTS[2], str(tmp_path / 'c-s0'), ['--config.seed=5'])
    assert command[:3] == [sys.executable, '-m', 'lineage.main']
    assert command[3:] == [
        '--config=configs/ladder_digits.py',
        '--config.model.widths=(8, 16, 32)',
        '--config.seed=5',
        f'--workdir={tmp_path / "c-s0"}',
    ]


def test_finished_points_are_skipped(tmp_path):
    _write_results(tmp_path / 'a-s0')
    fake = FakeRun()
    outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), start=fake)
    assert [o.status for o in outcomes] == ['skipped', 'done', 'done']
    assert [c[-1] for c in fake.commands] == [
        f'--workdir={tmp_path / "b-s0"}',
        f'--workdir={tmp_path / "c-s0"}',
    ]
    # A second pass finds everything finished and runs nothing.
    again = FakeRun()
    assert [o.status for o in run_sweep.run_sweep(POINTS, str(tmp_path), start=again)] == [
        'skipped'
    ] * 3
    assert again.commands == []


def test_committed_points_are_skipped_on_a_fresh_root(tmp_path, caplog):
    fake = FakeRun()
    with caplog.at_level(logging.INFO):
        outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), start=fake, committed={'b-s0'})
    assert [o.status for o in outcomes] == ['done', 'skipped', 'done']
    assert [c[-1] for c in fake.commands] == [
        f'--workdir={tmp_path / "a-s0"}',
        f'--workdir={tmp_path / "c-s0"}',
    ]
    assert '[2/3] b-s0: results committed, skipped' in caplog.text


def test_hours_defer_the_points_that_no_longer_fit(tmp_path, caplog):
    now = [0.0]
    estimates = {'a-s0': 1.0, 'b-s0': 3.0, 'c-s0': 0.5}  # hours
    asked = []

    def needs_hours(point):
        asked.append(point.name)
        return estimates[point.name]

    def one_hour_each(command, log, cores):  # each point really takes an hour
        now[0] += 3600
        return FakeRun()(command, log, cores)

    with caplog.at_level(logging.WARNING):
        outcomes = run_sweep.run_sweep(
            POINTS, str(tmp_path), start=one_hour_each, hours=2.0, needs_hours=needs_hours,
            clock=lambda: now[0],
        )  # fmt: skip
    # a fits in 2 h; then 1 h is left: b (3 h) is deferred, c (0.5 h) still runs.
    assert [o.status for o in outcomes] == ['done', 'deferred', 'done']
    assert asked == ['a-s0', 'b-s0', 'c-s0']
    assert not (tmp_path / 'b-s0').exists()
    assert '[2/3] b-s0: needs about 3.00 h, 1.00 h of --hours=2 left: deferred' in caplog.text


def test_a_seed_finished_by_this_run_sets_the_next_seeds_estimate(tmp_path):
    # Two seeds of a point no run has measured: seed 0's estimate is the default rate's, 2,816
    # images at 150 images/s plus 120 s = 0.0386 h. Seed 0 then measures 2,816 images/s and
    # 10 s of overhead, so seed 1 needs 0.0031 h and fits in the 0.03 h left; the estimate
    # taken before the run started would have deferred it.
    points = sweeps.with_budget('ladder_digits', sweeps.sweep_points('ladder_digits', [0, 1]), 2.0)
    points = [p for p in points if p.name.startswith('plain3x3-')]
    root = str(tmp_path / 'e2')
    now = [0.0]

    def measures_fast(command, log, cores):  # each point takes 0.02 h of the clock
        now[0] += 72
        _write_results(
            command[-1].split('=', 1)[1], dataset='digits', block='plain3x3',
            train_images_per_sec=2816.0, train_steps=44, global_batch=64, wall_time_s=11.0,
        )  # fmt: skip
        return Ended(0)

    def needs_hours(point):
        return estimate.hours_left(point, estimate.Evidence(root, [root]))

    assert needs_hours(points[1]) == pytest.approx((44 * 64 / 150 + 120) / 3600)
    outcomes = run_sweep.run_sweep(
        points, root, start=measures_fast, hours=0.05, needs_hours=needs_hours,
        clock=lambda: now[0],
    )  # fmt: skip
    assert [(o.point, o.status) for o in outcomes] == [
        ('plain3x3-s0', 'done'),
        ('plain3x3-s1', 'done'),
    ]
    assert needs_hours(points[1]) == 0.0  # finished


def test_failed_point_is_reported_and_the_sweep_goes_on(tmp_path, caplog):
    fake = FakeRun(fail={'a-s0'})
    with caplog.at_level(logging.ERROR):
        outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), start=fake)
    assert [o.status for o in outcomes] == ['failed', 'done', 'done']
    failed = outcomes[0]
    assert failed.returncode == 3
    assert failed.log == str(tmp_path / 'a-s0.log')
    assert (tmp_path / 'a-s0.log').read_text() == f'ran {tmp_path / "a-s0"}\n'
    message = ' '.join(r.getMessage() for r in caplog.records)
    assert 'a-s0: FAILED (returncode 3)' in message and str(tmp_path / 'a-s0.log') in message
    # The failed point is retried on the next pass; the finished ones are not.
    retry = FakeRun()
    outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), start=retry)
    assert [o.status for o in outcomes] == ['done', 'skipped', 'skipped']


def test_exit_zero_without_results_counts_as_failed(tmp_path):
    def quits_early(command, log, cores):  # e.g. a crash that still exits 0: no results.json
        return Ended(0)

    outcomes = run_sweep.run_sweep(POINTS[:1], str(tmp_path), start=quits_early)
    assert [(o.status, o.returncode) for o in outcomes] == [('failed', 0)]


def test_real_subprocesses_one_crashes(tmp_path, monkeypatch):
    """Real child processes (tiny Python one-liners in place of training): a crash is logged
    with its traceback in the point's log file, and the next point still runs."""

    def tiny(point, workdir, extra=()):
        if point.name == 'a-s0':
            return [sys.executable, '-c', 'raise SystemExit("boom")']
        code = (
            'import json, os, sys; os.makedirs(sys.argv[1]); '
            'json.dump({"top1": 1.0}, open(os.path.join(sys.argv[1], "results.json"), "w"))'
        )
        return [sys.executable, '-c', code, workdir]

    monkeypatch.setattr(run_sweep, 'point_command', tiny)
    outcomes = run_sweep.run_sweep(POINTS[:2], str(tmp_path))
    assert [(o.status, o.returncode) for o in outcomes] == [('failed', 1), ('done', 0)]
    assert 'boom' in (tmp_path / 'a-s0.log').read_text()
    assert json.loads((tmp_path / 'b-s0' / 'results.json').read_text()) == {'top1': 1.0}


def _refused(root, *flags):
    """The one stderr line of `run_sweep --sweep=ladder_digits *flags --root=root`, which must
    exit 1 with nothing written."""
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.run_sweep', '--sweep=ladder_digits', *flags,
         f'--root={root}'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert list(root.iterdir()) == []
    return result.stderr.strip()


def test_cli_non_positive_hours_is_one_line(tmp_path):
    assert _refused(tmp_path, '--hours=0') == 'error: --hours must be > 0, got 0'


@pytest.mark.parametrize('flags', [['--time_steps=-2', '--plan'], ['--time_steps=5']])
def test_cli_time_steps_without_an_estimate_to_make_is_one_line(tmp_path, flags):
    count = flags[0].split('=')[1]
    assert _refused(tmp_path, *flags) == (
        f'error: --time_steps={count} times steps for an estimate: give a count > 0, with '
        '--plan or --hours'
    )


@pytest.mark.parametrize('modes', [['--plan', '--commands'], ['--plan', '--collect', '--commands']])
def test_cli_two_modes_at_once_are_one_line(tmp_path, modes):
    assert _refused(tmp_path, *modes) == (
        f'error: {" and ".join(modes)} are separate modes; give one of them a run'
    )


def test_cli_a_timing_child_that_dies_is_one_line(tmp_path):
    # XLA exits at its first use, which is in the child that times the steps: the runner itself
    # never starts a backend, so the device stays free for the points it trains.
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.run_sweep', '--sweep=ladder_digits', '--epochs=1',
         '--plan', '--time_steps=1', f'--root={tmp_path}'],
        capture_output=True, text=True, check=False,
        env={**os.environ, 'XLA_FLAGS': '--xla_no_such_flag'},
    )  # fmt: skip
    assert result.returncode == 1
    assert 'Unknown flag in XLA_FLAGS' in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        'error: --time_steps=1: the process timing the steps died (out of memory?); leave '
        '--time_steps out to estimate from the runs measured so far'
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_empty_root_is_one_line(tmp_path):
    # `--root=$UNSET` would otherwise run the sweep in the default root, runs/digits.
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.run_sweep', '--sweep=ladder_digits', '--root='],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**os.environ, 'PYTHONPATH': repo},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'error: --root is empty; give a directory, or leave the flag out for the default'
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_sweep_is_one_line(tmp_path):
    # The later --sweep wins.
    assert _refused(tmp_path, '--sweep=nope').startswith("error: unknown sweep 'nope'; choose from")


def test_cli_collect_from_a_root_that_is_not_there_is_one_line(tmp_path):
    absent = tmp_path / 'absent'
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.run_sweep', '--sweep=ladder_digits', '--epochs=1',
         '--collect', f'--root={absent}'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'error: --root={absent}: no directory {absent}/e1 to collect from; pass the root the '
        'runner used'
    )
    assert not absent.exists()


def test_cli_plan_reads_a_carried_checkpoint_in_place_and_writes_nothing(tmp_path):
    # The runner copies a carried checkpoint into its root before the point starts; a plan only
    # reads it, so a plan leaves the root (here: the default one, under the working directory)
    # as it was.
    carried = tmp_path / 'experiments' / 'results' / 'carried' / 'digits' / 'e1' / 'plain3x3-s0'
    (carried / 'checkpoints' / '5').mkdir(parents=True)
    (carried / 'checkpoints' / '5' / 'commit_success.txt').write_text('')
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.run_sweep', '--sweep=ladder_digits', '--epochs=1',
         '--seeds=0', '--plan'],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**os.environ, 'PYTHONPATH': repo},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 'plain3x3-s0' in result.stdout and 'resumes at step 5' in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ['experiments']
