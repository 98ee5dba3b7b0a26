"""The command line as a user meets it: `python -m lineage.main --config=... [overrides]`."""

import json
import os
import subprocess
import sys

import pytest

from lineage import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    '--config=configs/default.py',
    '--config.num_train_steps=3',
    '--config.model.widths=(4,8)',
    '--config.model.depths=(1,1)',
    '--config.dataset.image_size=16',
    '--config.batch_size=8',
    '--config.compilation_cache_dir=',  # nothing written outside tmp_path (one test sets it)
]


def run(*args, **env_vars):
    env = {**os.environ, 'XLA_FLAGS': '', 'PYTHONPATH': ROOT, **env_vars}
    return subprocess.run(
        [sys.executable, '-m', 'lineage.main', *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_default_workdir():
    assert main.default_workdir('configs/default.py') == os.path.join('runs', 'default')
    assert main.default_workdir('configs/sweep.py:separable') == os.path.join(
        'runs', 'sweep-separable'
    )


def test_unknown_fields():
    argv = ['prog', '--config=configs/default.py', '--config.model.nope=1', '--config.seed=3']
    assert main.unknown_fields(argv) == ['--config.model.nope']


@pytest.mark.parametrize(
    'arg,message',
    [
        (
            '--config.optimizer.lr=0.1',
            'error: --config.optimizer.lr: no such config field; the config file lists the '
            'fields (a locked config takes no new ones)',
        ),
        (
            '--config=configs/nope.py',
            'error: --config=configs/nope.py: no such file; e.g. --config=configs/default.py',
        ),
    ],
)
def test_bad_flag_is_one_line(tmp_path, arg, message):
    workdir = tmp_path / 'run'
    result = run('--config=configs/default.py', arg, f'--workdir={workdir}')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]
    assert not workdir.exists()


def test_run_then_rerun_then_other_model(tmp_path):
    workdir = tmp_path / 'run'
    first = run(*TINY, f'--workdir={workdir}')
    assert first.returncode == 0, first.stderr[-2000:]
    last = first.stdout.strip().splitlines()[-1]
    with open(workdir / 'results.json') as f:
        results = json.load(f)
    assert last.startswith('ladder on digits: test top-1 ')
    assert f'({results["correct"]}/360) | params 1,334 | MACs 0.1M | ' in last
    assert results['params'] == 1334 and results['train_steps'] == 3

    # The same command again finds the finished checkpoint: no training, same result.
    again = run(*TINY, f'--workdir={workdir}')
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip().splitlines()[-1].split(' | ')[:3] == last.split(' | ')[:3]
    assert 'resumed from step 3 of 3' in again.stderr
    with open(workdir / 'metrics.jsonl') as f:
        records = [json.loads(line) for line in f]
    assert [r['step'] for r in records if 'eval_top1' in r] == [3]  # not logged twice

    before = sorted(os.listdir(workdir))
    other = run(*TINY, '--config.model.block=plain5x5', f'--workdir={workdir}')
    assert other.returncode == 1
    error = other.stderr.strip().splitlines()[-1]
    assert error.startswith(f'error: {workdir} holds checkpoints of another model (options.block:')
    assert sorted(os.listdir(workdir)) == before


def test_compilation_cache_filled_then_reused(tmp_path):
    cache = tmp_path / 'cache'
    # Store every program, however fast it compiled (JAX's default skips those under 1 s), and
    # log each cache hit.
    env = {'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0', 'JAX_LOG_COMPILES': '1'}
    hit = 'Persistent compilation cache hit for '

    first = run(*TINY, f'--config.compilation_cache_dir={cache}', f'--workdir={tmp_path}/a', **env)
    assert first.returncode == 0, first.stderr[-2000:]
    entries = sorted(os.listdir(cache))
    assert len(entries) >= 2 and hit not in first.stderr  # at least the train and eval steps
    # A second run (another workdir: trains again) compiles the same programs: all from disk.
    second = run(*TINY, f'--config.compilation_cache_dir={cache}', f'--workdir={tmp_path}/b', **env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert sorted(os.listdir(cache)) == entries
    assert second.stderr.count("hit for 'jit_step'") == 2  # the train and the eval step
    assert second.stderr.count(hit) == len(entries)
    last = [r.stdout.strip().splitlines()[-1].split(' | ')[:-1] for r in (first, second)]
    assert last[0] == last[1]  # the same result, but for the wall time


def test_unusable_compilation_cache_is_one_line(tmp_path):
    (tmp_path / 'file').write_text('')
    bad = tmp_path / 'file' / 'cache'
    result = run(*TINY, f'--config.compilation_cache_dir={bad}', f'--workdir={tmp_path}/run')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: compilation cache {bad} is not writable (Not a directory); set '
        "--config.compilation_cache_dir to another folder, or to '' for no cache"
    )
    assert not os.path.exists(tmp_path / 'run')
