"""The sweep runner: finished points are skipped, a failed point is reported and the rest run."""

import json
import logging
import os
import subprocess
import sys

from experiments import run_sweep
from experiments.sweeps import Point

POINTS = [
    Point('a-s0', 'configs/ladder_digits.py', {'model.block': 'plain3x3', 'seed': 0}),
    Point('b-s0', 'configs/ladder_digits.py:segments', {'model.block_options.segments': 4}),
    Point('c-s0', 'configs/ladder_digits.py', {'model.widths': (8, 16, 32)}),
]


def _write_results(workdir):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
        json.dump({'top1': 0.5}, f)


class FakeRun:
    """Stands in for subprocess.run: records commands; 'fails' the points named in `fail`,
    finishes the others by writing their results.json."""

    def __init__(self, fail=()):
        self.fail = set(fail)
        self.commands = []

    def __call__(self, command, stdout, stderr, check):
        assert stderr == subprocess.STDOUT and check is False
        self.commands.append(command)
        workdir = command[-1].split('=', 1)[1]
        stdout.write(f'ran {workdir}\n')
        if os.path.basename(workdir) in self.fail:
            return subprocess.CompletedProcess(command, 3)
        _write_results(workdir)
        return subprocess.CompletedProcess(command, 0)


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
    outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), run=fake)
    assert [o.status for o in outcomes] == ['skipped', 'done', 'done']
    assert [c[-1] for c in fake.commands] == [
        f'--workdir={tmp_path / "b-s0"}',
        f'--workdir={tmp_path / "c-s0"}',
    ]
    # A second pass finds everything finished and runs nothing.
    again = FakeRun()
    assert [o.status for o in run_sweep.run_sweep(POINTS, str(tmp_path), run=again)] == [
        'skipped'
    ] * 3
    assert again.commands == []


def test_failed_point_is_reported_and_the_sweep_goes_on(tmp_path, caplog):
    fake = FakeRun(fail={'a-s0'})
    with caplog.at_level(logging.ERROR):
        outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), run=fake)
    assert [o.status for o in outcomes] == ['failed', 'done', 'done']
    failed = outcomes[0]
    assert failed.returncode == 3
    assert failed.log == str(tmp_path / 'a-s0.log')
    assert (tmp_path / 'a-s0.log').read_text() == f'ran {tmp_path / "a-s0"}\n'
    message = ' '.join(r.getMessage() for r in caplog.records)
    assert 'a-s0: FAILED (returncode 3)' in message and str(tmp_path / 'a-s0.log') in message
    # The failed point is retried on the next pass; the finished ones are not.
    retry = FakeRun()
    outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), run=retry)
    assert [o.status for o in outcomes] == ['done', 'skipped', 'skipped']


def test_exit_zero_without_results_counts_as_failed(tmp_path):
    def quits_early(
        command, stdout, stderr, check
    ):  # e.g. a crash that still exits 0: no results.json
        return subprocess.CompletedProcess(command, 0)

    outcomes = run_sweep.run_sweep(POINTS[:1], str(tmp_path), run=quits_early)
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


def test_cli_unknown_sweep_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.run_sweep', '--sweep=nope', f'--root={tmp_path}'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: unknown sweep 'nope'; choose from")
    assert list(tmp_path.iterdir()) == []
