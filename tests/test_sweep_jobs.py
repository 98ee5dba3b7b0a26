"""The sweep runner's jobs and faults: points run at once on their own cores and each finishes;
SIGTERM checkpoints all of them; the runner's death takes its points; `--commands` prints lines
that run a point anywhere; a second runner, a busy point, a live point and bad flags are met with
one line each."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from xla_codegen import CHEAPEST

from experiments import run_sweep
from experiments.sweeping import child_processes, collect, sweeps
from lineage import file_lock, metrics
from tests.test_run_sweep import POINTS, FakeRun, _write_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else []
two_cores = pytest.mark.skipif(len(CORES) < 2, reason='needs 2 cores in this affinity (Linux)')
# Digits points of 3 train steps (0.1 epoch), no compilation cache outside the test's folders.
TINY_EPOCHS, NO_CACHE = 0.1, '--config.compilation_cache_dir='


def _cli(*flags, cwd=ROOT, **env):
    return subprocess.run(
        [sys.executable, '-m', 'experiments.run_sweep', *flags],
        cwd=cwd, env={**os.environ, 'XLA_FLAGS': CHEAPEST, **env},
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def _digits_points(count):
    points = sweeps.sweep_points('ladder_digits', [0])
    return sweeps.with_budget('ladder_digits', points, TINY_EPOCHS)[:count]


@two_cores
def test_cpu_shares_split_the_cores_one_job_keeps_them_all():
    assert child_processes.cpu_shares(1) == [None]
    half = len(CORES) - len(CORES) // 2  # the remainder goes to the first share
    assert child_processes.cpu_shares(2) == [tuple(CORES[:half]), tuple(CORES[half:])]
    with pytest.raises(ValueError, match=rf'--jobs={len(CORES) + 1}: this runner may use'):
        child_processes.cpu_shares(len(CORES) + 1)


@two_cores
def test_a_child_on_one_core_runs_one_xla_thread(tmp_path, monkeypatch):
    monkeypatch.setenv('XLA_FLAGS', CHEAPEST)
    code = (
        'import os, jax.numpy as jnp; x = jnp.ones((64, 64)); (x @ x).block_until_ready(); '
        'names = [open(f"/proc/self/task/{t}/comm").read().strip() '
        'for t in os.listdir("/proc/self/task")]; '
        'print(len(os.sched_getaffinity(0)), names.count("tf_XLAEigen"))'
    )
    counts = {}
    for cores in (None, (CORES[-1],)):
        with open(tmp_path / 'log', 'w') as log:
            assert child_processes.start([sys.executable, '-c', code], log, cores).wait() == 0
        counts[cores] = (tmp_path / 'log').read_text().split()
    # XLA sizes its CPU thread pool from the cores the process may use: its share.
    assert counts == {None: [str(len(CORES))] * 2, (CORES[-1],): ['1', '1']}


@two_cores
def test_two_digits_points_run_at_once_each_on_its_core_and_each_finishes(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv('XLA_FLAGS', CHEAPEST)  # one device a point
    points = _digits_points(2)
    started, running_then = [], []

    def start(command, log, cores):
        running_then.extend(child.poll() is None for child in started)
        started.append(child_processes.start(command, log, cores))
        return started[-1]

    outcomes = run_sweep.run_sweep(points, str(tmp_path), [NO_CACHE], start=start, jobs=2)
    assert [(o.point, o.status) for o in outcomes] == [(p.name, 'done') for p in points]
    assert running_then == [True], 'the second point started while the first ran'
    summaries = set()
    for point in points:
        results = json.loads((tmp_path / point.name / 'results.json').read_text())
        assert results['train_steps'] == 3
        assert results['host']['cores'] == 1  # its share: one core each
        log = (tmp_path / f'{point.name}.log').read_text()
        assert log.count('test top-1') == 1 and metrics.summary_line(results) in log  # its own
        summaries.add(metrics.summary_line(results))
    assert len(summaries) == 2


# A point that checkpoints on SIGTERM (to the runner, or sent at the runner's death) and, started
# again, resumes; it writes its pid and cores first. Once the test writes `quick` in the root,
# new points finish at once.
CHECKPOINTING_CHILD = textwrap.dedent("""
    import json, os, signal, sys, time
    workdir = sys.argv[1]
    os.makedirs(workdir, exist_ok=True)
    checkpoint = os.path.join(workdir, 'checkpoint')
    if os.path.exists(checkpoint) or os.path.exists(os.path.join(workdir, '..', 'quick')):
        resumed = open(checkpoint).read() if os.path.exists(checkpoint) else None
        with open(os.path.join(workdir, 'results.json'), 'w') as f:
            json.dump({'resumed_from': resumed}, f)
        sys.exit(0)
    def stop(signum, frame):
        open(checkpoint, 'w').write('step 7')
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    with open(os.path.join(workdir, 'started.tmp'), 'w') as f:
        json.dump({'pid': os.getpid(), 'cores': sorted(os.sched_getaffinity(0))}, f)
    os.rename(os.path.join(workdir, 'started.tmp'), os.path.join(workdir, 'started'))
    time.sleep(120)
    sys.exit(5)
""")
RUNNER = textwrap.dedent("""
    import sys
    from experiments import run_sweep
    from experiments.sweeping.sweeps import Point
    run_sweep.point_command = lambda point, workdir, extra=(): [
        sys.executable, '-c', sys.argv[2], workdir]
    points = [Point(name, 'c.py', {}) for name in ('a-s0', 'b-s0', 'c-s0')]
    outcomes = run_sweep.run_sweep(points, sys.argv[1], jobs=int(sys.argv[3]))
    print(' '.join(o.status for o in outcomes))
""")


def _start_runner(root, jobs):
    """The runner with `jobs`, once its first `jobs` points have started: (its command, its
    process, {point: {'pid', 'cores'}})."""
    runner = [sys.executable, '-c', RUNNER, str(root), CHECKPOINTING_CHILD, str(jobs)]
    process = subprocess.Popen(runner, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    started = {}
    deadline = time.monotonic() + 60
    while len(started) < jobs:
        assert process.poll() is None and time.monotonic() < deadline, 'the points never started'
        for name in ('a-s0', 'b-s0')[:jobs]:
            if (root / name / 'started').exists():
                started[name] = json.loads((root / name / 'started').read_text())
        time.sleep(0.05)
    return runner, process, started


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.parametrize('jobs', [1, pytest.param(2, marks=two_cores)])
def test_sigterm_checkpoints_every_running_point_and_the_next_start_resumes_them(tmp_path, jobs):
    runner, process, started = _start_runner(tmp_path, jobs)
    running = ('a-s0', 'b-s0')[:jobs]
    if jobs == 2:  # each point on cores of its own
        assert not set(started['a-s0']['cores']) & set(started['b-s0']['cores'])
    process.send_signal(signal.SIGTERM)  # to the runner only: it forwards it to every point
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and out.split() == ['stopped'] * jobs
    for name in running:
        assert (tmp_path / name / 'checkpoint').read_text() == 'step 7'
        assert not (tmp_path / name / 'results.json').exists()
    assert sorted(os.listdir(tmp_path)) == sorted([*running, *(f'{n}.log' for n in running)]), (
        'no new point starts after SIGTERM'
    )
    (tmp_path / 'quick').write_text('')
    again = subprocess.run(runner, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.stdout.split() == ['done', 'done', 'done'], again.stderr[-2000:]
    for name in ('a-s0', 'b-s0', 'c-s0'):
        resumed = json.loads((tmp_path / name / 'results.json').read_text())
        assert resumed == {'resumed_from': 'step 7' if name in running else None}


@two_cores
def test_the_runners_death_takes_its_points_each_with_a_checkpoint(tmp_path):
    _, process, started = _start_runner(tmp_path, 2)
    process.kill()  # kill -9: no handler runs in the runner
    process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(_alive(s['pid']) for s in started.values()):
        assert time.monotonic() < deadline, 'a point outlived its runner'
        time.sleep(0.05)
    for name in ('a-s0', 'b-s0'):
        assert (tmp_path / name / 'checkpoint').read_text() == 'step 7'


def test_a_point_whose_workdir_a_live_run_holds_is_busy_not_started(tmp_path, caplog):
    (tmp_path / 'b-s0').mkdir()
    lock, _ = file_lock.try_lock(str(tmp_path / 'b-s0' / '.lock'))
    fake = FakeRun()
    try:
        outcomes = run_sweep.run_sweep(POINTS, str(tmp_path), start=fake)
    finally:
        os.close(lock)
    assert [o.status for o in outcomes] == ['done', 'busy', 'done']
    assert [c[-1] for c in fake.commands] == [
        f'--workdir={tmp_path / "a-s0"}',
        f'--workdir={tmp_path / "c-s0"}',
    ]
    assert 'b-s0: its workdir is in use by another run (host ' in caplog.text
    assert f'pid {os.getpid()}): busy, not started' in caplog.text


def test_commands_print_a_runnable_line_a_point_and_one_runs_anywhere(tmp_path):
    listed = _cli('--sweep=ladder_digits', '--seeds=0', f'--epochs={TINY_EPOCHS}',
                  f'--root={tmp_path}', '--commands', '--', NO_CACHE)  # fmt: skip
    assert listed.returncode == 0, listed.stderr[-2000:]
    lines = listed.stdout.strip().splitlines()
    names = [p.name for p in _digits_points(9)]
    root = tmp_path / f'e{TINY_EPOCHS:g}'
    assert len(lines) == len(names) == 9
    for line, name in zip(lines, names, strict=True):
        assert line.startswith(f'cd {ROOT} && mkdir -p {root} && ')
        assert f"XLA_FLAGS='{CHEAPEST}' {sys.executable} -m lineage.main" in line
        assert line.endswith(f'{NO_CACHE} --workdir={root / name} >> {root / name}.log 2>&1')
    # Self-contained: it runs from any directory, in a bare environment.
    bare = {'PATH': os.environ['PATH'], 'HOME': os.environ.get('HOME', str(tmp_path))}
    ran = subprocess.run(['bash', '-c', lines[0]], cwd=tmp_path, env=bare, timeout=300)
    assert ran.returncode == 0, (root / f'{names[0]}.log').read_text()[-2000:]
    results = json.loads((root / names[0] / 'results.json').read_text())
    assert results['train_steps'] == 3 and results['devices']['count'] == 1
    assert metrics.summary_line(results) in (root / f'{names[0]}.log').read_text()
    # The point done, it is listed no more.
    again = _cli('--sweep=ladder_digits', '--seeds=0', f'--epochs={TINY_EPOCHS}',
                 f'--root={tmp_path}', '--commands', '--', NO_CACHE)  # fmt: skip
    assert again.stdout.strip().splitlines() == lines[1:]


def test_a_second_runner_on_a_root_is_refused_naming_the_first(tmp_path):
    lock = os.open(tmp_path / run_sweep.RUNNER_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.write(lock, b'host otherhost, pid 4242\n')
    try:
        result = _cli('--sweep=ladder_digits', f'--root={tmp_path}')
    finally:
        os.close(lock)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'error: {tmp_path} is in use by another sweep runner (host otherhost, pid 4242); wait '
        'for it, or stop it with SIGTERM (its points checkpoint)'
    )
    assert os.listdir(tmp_path) == [run_sweep.RUNNER_LOCK]
    # The holder gone (kill -9 included: the kernel drops its flock), its file blocks nothing.
    assert file_lock.held_by(str(tmp_path / run_sweep.RUNNER_LOCK)) is None


def test_collect_leaves_the_points_a_live_run_holds(tmp_path, capsys):
    points = sweeps.sweep_points('ladder_digits', [0])[:3]
    root, results = tmp_path / 'runs', tmp_path / 'results'
    for point in points[:2]:  # two finished points, the first still writing its last lines
        _write_results(root / point.name)
    (root / points[2].name / 'checkpoints' / '5').mkdir(parents=True)  # a live, unfinished one
    locks = [file_lock.try_lock(str(root / p.name / '.lock'))[0] for p in (points[0], points[2])]
    try:
        collect.collect_sweep(
            'ladder_digits', [0], None, points, str(root), str(results), str(tmp_path / 'carried')
        )
    finally:
        for lock in locks:
            os.close(lock)
    out = capsys.readouterr().out.splitlines()
    holder = f'pid {os.getpid()}), skipped; collect it once it stops'
    assert out[0].startswith(f'  {points[0].name}: running (host ') and out[0].endswith(holder)
    assert out[1].startswith(f'  {points[2].name}: running (host ') and out[1].endswith(holder)
    mine = results / 'ladder_digits'
    assert out[2] == f'sweep ladder_digits: 1 copied from {root}; 1 of 9 points finished in {mine}'
    assert os.listdir(results / 'ladder_digits') == [points[1].name]
    assert not (tmp_path / 'carried').exists()  # the live point is not carried as interrupted


@pytest.mark.parametrize(
    'flag, message',
    [
        ('--seeds=x', 'error: --seeds=x: give whole numbers, e.g. --seeds=0,1,2'),
        ('--jobs=0', 'error: --jobs=0: this runner may use {cores} cores (its CPU affinity); '
         'give 1 to {cores}, one core or more a point'),
        ('--root={file}', 'error: --root={file}: {file} is a file; pass a directory this user '
         'can write'),
        ('--root={file}/runs', 'error: --root={file}/runs: {file} is a file; pass a directory '
         'this user can write'),
    ],
)  # fmt: skip
def test_cli_bad_flags_are_one_line(tmp_path, flag, message):
    file = tmp_path / 'file'
    file.write_text('not a directory')
    fill = {'file': file, 'cores': len(CORES) or os.cpu_count()}
    result = _cli('--sweep=ladder_digits', f'--root={tmp_path / "runs"}', flag.format(**fill))
    assert result.returncode == 1
    assert result.stderr.strip() == message.format(**fill)
    assert sorted(os.listdir(tmp_path)) == ['file'] and file.read_text() == 'not a directory'


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc (Linux)')
def test_cli_a_root_that_cannot_be_created_is_one_line():
    # /proc takes no new directories, whatever the user's permissions (root's included).
    result = _cli('--sweep=ladder_digits', '--root=/proc/lineage-runs')
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        'error: --root=/proc/lineage-runs: cannot create /proc/lineage-runs ('
    )
    assert result.stderr.strip().endswith('); pass a directory this user can write')
    assert len(result.stderr.strip().splitlines()) == 1
