"""What a sweep leaves for committing: finished points collected without checkpoints, interrupted
ones carried to a fresh machine and removed once collected; a live run's point is left alone."""

import os
import subprocess

import pytest

from experiments.sweeping import collect, estimate
from tests.test_run_sweep import POINTS, _write_results


def test_collect_copies_finished_points_without_checkpoints(tmp_path):
    root, destination = tmp_path / 'runs', tmp_path / 'results'
    _write_results(root / 'a-s0')
    (root / 'a-s0' / 'metrics.jsonl').write_text('{"step": 1}\n')
    (root / 'a-s0' / 'checkpoints' / '100').mkdir(parents=True)
    (root / 'a-s0.log').write_text('log of a\n')
    (root / 'b-s0' / 'checkpoints').mkdir(parents=True)  # interrupted: not collected
    assert collect.collect(POINTS, str(root), str(destination)) == ['a-s0']
    copied = sorted(str(p.relative_to(destination)) for p in destination.rglob('*'))
    assert copied == ['a-s0', 'a-s0.log', 'a-s0/metrics.jsonl', 'a-s0/results.json']
    # Collecting again is a no-op; a committed file that differs is never written over.
    assert collect.collect(POINTS, str(root), str(destination)) == ['a-s0']
    # A log collected before the run's last line is completed, not refused.
    (root / 'a-s0.log').write_text('log of a\ntest top-1 50.00%\n')
    assert collect.collect(POINTS, str(root), str(destination)) == ['a-s0']
    assert (destination / 'a-s0.log').read_text() == 'log of a\ntest top-1 50.00%\n'
    (destination / 'a-s0.log').write_text('another run\n')
    with pytest.raises(ValueError, match='a-s0.log exists and differs'):
        collect.collect(POINTS, str(root), str(destination))
    assert (destination / 'a-s0.log').read_text() == 'another run\n'


def _checkpoint(workdir, step):
    (workdir / 'checkpoints' / str(step)).mkdir(parents=True)
    (workdir / 'checkpoints' / str(step) / 'state').write_text(f'state at {step}')


def test_an_interrupted_point_is_carried_once_resumed_on_a_fresh_root_then_removed(tmp_path):
    root, carried = tmp_path / 'runs', tmp_path / 'results' / 'carried' / 'cifar10' / 'e40'
    _checkpoint(root / 'b-s0', 40)
    _checkpoint(root / 'b-s0', 80)
    (root / 'b-s0' / 'checkpoints' / '120.orbax-checkpoint-tmp').mkdir()  # unfinished write
    (root / 'b-s0' / 'metrics.jsonl').write_text('{"step": 80}\n')
    (root / 'b-s0.log').write_text('log of b\n')
    assert collect.carry(POINTS, str(root), str(carried)) == {'b-s0': 80}
    # Carried again (a second sweep holding the point, a second collect), it is still one copy.
    assert collect.carry(POINTS, str(root), str(carried)) == {'b-s0': 80}
    assert sorted(str(p.relative_to(carried)) for p in carried.rglob('*')) == [
        'b-s0', 'b-s0.log', 'b-s0/checkpoints', 'b-s0/checkpoints/80',
        'b-s0/checkpoints/80/state', 'b-s0/metrics.jsonl',
    ]  # fmt: skip
    assert (carried / 'b-s0.log').read_text() == 'log of b\n'

    # A fresh machine's root: the point resumes from the carried step, with its log and metrics.
    fresh = tmp_path / 'fresh'
    assert collect.resume_carried(POINTS, str(fresh), str(carried)) == {'b-s0': 80}
    assert (fresh / 'b-s0' / 'checkpoints' / '80' / 'state').read_text() == 'state at 80'
    assert (fresh / 'b-s0' / 'metrics.jsonl').read_text() == '{"step": 80}\n'
    assert (fresh / 'b-s0.log').read_text() == 'log of b\n'
    assert estimate.remaining(POINTS[1:2], estimate.Evidence(str(fresh), []))[0].done_steps == 80
    # A root with a checkpoint of its own keeps it.
    assert collect.resume_carried(POINTS, str(fresh), str(carried)) == {}
    # A machine that is behind never replaces the carried step with an earlier one.
    behind = tmp_path / 'behind'
    _checkpoint(behind / 'b-s0', 40)
    assert collect.carry(POINTS, str(behind), str(carried)) == {'b-s0': 80}
    assert os.listdir(carried / 'b-s0' / 'checkpoints') == ['80']

    # One that went further replaces it.
    _checkpoint(fresh / 'b-s0', 120)
    assert collect.carry(POINTS, str(fresh), str(carried)) == {'b-s0': 120}
    assert os.listdir(carried / 'b-s0' / 'checkpoints') == ['120']

    # Finished, the point is carried no more; once collected, its carried files go.
    _write_results(fresh / 'b-s0')
    assert collect.carry(POINTS, str(fresh), str(carried)) == {}
    assert os.listdir(carried / 'b-s0' / 'checkpoints') == ['120']
    assert collect.carry(POINTS, str(fresh), str(carried), committed={'b-s0'}) == {}
    assert os.listdir(carried) == []
    assert collect.resume_carried(POINTS, str(tmp_path / 'another'), str(carried)) == {}


def test_a_carried_checkpoint_is_not_git_ignored():
    # `--collect` carries it for committing; workdirs' own checkpoints stay ignored.
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isdir(os.path.join(repo, '.git')):
        pytest.skip('not a git checkout')

    def ignored(path):
        check = ['git', '-C', repo, 'check-ignore', '-q', path]
        return subprocess.run(check, check=False).returncode == 0

    assert not ignored('experiments/results/carried/cifar10/e40/p-s0/checkpoints/7/state/x')
    assert not ignored('experiments/results/carried/digits/p-s0/checkpoints/7/state/x')
    assert ignored('experiments/results/spectrum/e40/p-s0/checkpoints/7/state/manifest')
    assert ignored('experiments/results/ladder_digits/p-s0/checkpoints/7/state/manifest')
