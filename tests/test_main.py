"""The command line as a user meets it: `python -m lineage.main --config=... [overrides]`."""

import json
import os
import signal
import subprocess
import sys

import pytest
from xla_codegen import CHEAPEST

from lineage import command_line

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
    env = {**os.environ, 'XLA_FLAGS': CHEAPEST, 'PYTHONPATH': ROOT, **env_vars}
    return subprocess.run(
        [sys.executable, '-m', 'lineage.main', *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_default_workdir():
    assert command_line.default_workdir('configs/default.py') == os.path.join('runs', 'default')
    assert command_line.default_workdir('configs/sweep.py:separable') == os.path.join(
        'runs', 'sweep-separable'
    )


def test_unknown_fields():
    argv = ['prog', '--config=configs/default.py', '--config.model.nope=1', '--config.seed=3']
    assert command_line.unknown_fields(argv) == ['--config.model.nope']


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

    # The same command again finds the finished run: no training, results.json as it was.
    again = run(*TINY, f'--workdir={workdir}')
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip().splitlines()[-1] == last
    assert f'{workdir} finished at step 3 already; results.json left as it was' in again.stderr
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


def test_ctrl_c_saves_and_exits_130_then_damage_ends_on_one_error(tmp_path):
    workdir = tmp_path / 'run'
    env = {**os.environ, 'XLA_FLAGS': CHEAPEST, 'PYTHONPATH': ROOT}
    args = [*TINY, '--config.num_train_steps=100000', '--config.log_every_steps=1']
    proc = subprocess.Popen(
        [sys.executable, '-m', 'lineage.main', *args, f'--workdir={workdir}'],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stderr:  # training has begun once step 2 is logged
        lines.append(line)
        if ' step 2/100000 ' in line:
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=300)
    err = ''.join(lines) + err
    assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
    step = os.listdir(workdir / 'checkpoints')
    assert len(step) == 1 and int(step[0]) >= 2
    assert out.strip().splitlines() == [
        f'stopped at step {step[0]}, checkpoint saved in {workdir}; rerun to resume'
    ]
    assert 'Traceback' not in err
    assert "backend 'tpu'" not in err  # no line about libtpu on a CPU run

    # Every array file of the only checkpoint cut short: nothing restores.
    state = workdir / 'checkpoints' / step[0] / 'state'
    for path in [*state.glob('d/*'), *state.glob('ocdbt.process_0/d/*')]:
        os.truncate(path, 100)
    damaged = run(*args, f'--workdir={workdir}')
    assert damaged.returncode == 1
    lines = damaged.stderr.strip().splitlines()
    assert lines[-1].startswith(f'error: no checkpoint in {workdir}/checkpoints can be restored')
    assert 'Traceback' not in damaged.stderr and 'Event loop' not in damaged.stderr
    assert len(lines) < 10, damaged.stderr[-3000:]
