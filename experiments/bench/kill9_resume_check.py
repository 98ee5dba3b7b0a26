"""kill -9 at random moments of a short run, then the same command again: nothing is lost.

    python experiments/bench/kill9_resume_check.py [--trials=5] [--seed=0] [--steps=80]

Runs `python -m lineage.main` on a small digits ladder once without interruption (the
reference), then, per trial, starts the same command in a fresh workdir, sends SIGKILL at a
random moment of its training (uniform over the reference's time from its first logged step to
its last, counted from the run's own first step; a checkpoint is written every 2 steps, so many
kills land mid-write), reruns the command to the end, and compares the final
metrics with the reference's: test accuracy, correct count, eval loss and the train loss of
every step. Prints each trial's kill time, what the killed run left (steps logged, finished
checkpoints, interrupted checkpoint writes), the step the rerun resumed from and the final
metrics beside the reference's. Exits 1 if any trial differs.

No tolerance: the rerun must reproduce the reference bit for bit (the data stream is a function
of (seed, step) and a checkpoint holds the whole train state).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_S = 600  # one launch; a hang fails the demo instead of stalling it
OVERRIDES = [
    '--config=configs/default.py',
    '--config.model.widths=(8,16)',
    '--config.model.depths=(1,1)',
    '--config.dataset.image_size=16',
    '--config.batch_size=32',
    '--config.log_every_steps=1',
    '--config.checkpoint_every_steps=2',
    '--config.keep_checkpoints=2',
]


def command(workdir: str, steps: int) -> list[str]:
    return [
        sys.executable,
        '-m',
        'lineage.main',
        *OVERRIDES,
        f'--config.num_train_steps={steps}',
        f'--workdir={workdir}',
    ]


def start(workdir: str, steps: int) -> subprocess.Popen:
    env = {**os.environ, 'PYTHONPATH': ROOT, 'XLA_FLAGS': '', 'JAX_NUM_CPU_DEVICES': '1'}
    with open(workdir + '.log', 'a') as log:  # the child keeps its own copy of the file
        return subprocess.Popen(
            command(workdir, steps), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def finish(proc: subprocess.Popen) -> None:
    try:
        proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        sys.exit(f'error: {" ".join(proc.args)} did not finish within {TIMEOUT_S} s')
    if proc.returncode != 0:
        sys.exit(f'error: {" ".join(proc.args)} exited {proc.returncode}; see its .log')


def final_metrics(workdir: str) -> dict:
    with open(os.path.join(workdir, 'results.json')) as f:
        results = json.load(f)
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
        losses = [(r['step'], r['loss']) for r in map(json.loads, f) if 'loss' in r]
    return {
        'top1': results['top1'],
        'correct': results['correct'],
        'eval_loss': results['eval_loss'],
        'losses': losses,
    }


def logged_steps(workdir: str) -> int:
    path = os.path.join(workdir, 'metrics.jsonl')
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if '"loss"' in line)


def left_behind(workdir: str) -> tuple[list[int], list[str]]:
    """(finished checkpoint steps, folders of checkpoint writes cut short)."""
    directory = os.path.join(workdir, 'checkpoints')
    names = os.listdir(directory) if os.path.isdir(directory) else []
    return sorted(int(n) for n in names if n.isdigit()), sorted(n for n in names if 'tmp' in n)


def reference_run(workdir: str, steps: int) -> tuple[float, float, float]:
    """Runs uninterrupted; returns seconds to its first logged step, its last, and its exit."""
    began = time.perf_counter()
    proc = start(workdir, steps)
    first = last = None
    while proc.poll() is None and time.perf_counter() - began < TIMEOUT_S:
        logged = logged_steps(workdir)
        if first is None and logged:
            first = time.perf_counter() - began
        if last is None and logged >= steps:
            last = time.perf_counter() - began
        time.sleep(0.01)
    finish(proc)
    end = time.perf_counter() - began
    return first or 0.0, last or end, end


def describe(metrics: dict) -> str:
    return (
        f'top1 {metrics["top1"]:.4f} ({metrics["correct"]}/360) eval_loss '
        f'{metrics["eval_loss"]:.6f} final train loss {metrics["losses"][-1][1]:.6f}'
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--trials', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0, help='draws the kill times')
    parser.add_argument('--steps', type=int, default=80)
    parser.add_argument('--dir', default='', help='where the runs go (default: a temp dir)')
    args = parser.parse_args()
    base = args.dir or tempfile.mkdtemp(prefix='kill9_resume_check_')
    os.makedirs(base, exist_ok=True)
    rng = random.Random(args.seed)

    reference = os.path.join(base, 'reference')
    first_step_s, last_step_s, end_s = reference_run(reference, args.steps)
    expected = final_metrics(reference)
    print(
        f'reference: {args.steps} steps uninterrupted, first step logged at {first_step_s:.1f} '
        f's, last at {last_step_s:.1f} s, done at {end_s:.1f} s: {describe(expected)}'
    )
    print(f'runs in {base}; command: {" ".join(command("<workdir>", args.steps)[1:])}')

    failures = trial = attempts = 0
    while trial < args.trials and attempts < 3 * args.trials:
        attempts += 1
        workdir = os.path.join(base, f'attempt{attempts}')
        # Measured from the run's own first step: its start-up time varies with the host's load.
        kill_after = rng.uniform(0, last_step_s - first_step_s)
        proc = start(workdir, args.steps)
        began = time.perf_counter()
        while proc.poll() is None and not logged_steps(workdir):
            time.sleep(0.01)
        first = time.perf_counter()
        while proc.poll() is None and time.perf_counter() - first < kill_after:
            time.sleep(0.01)
        if proc.poll() is not None:
            print(
                f'attempt {attempts}: finished before its kill at +{kill_after:.2f} s: not counted'
            )
            continue
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        trial += 1
        killed_at = time.perf_counter()
        steps, cut = left_behind(workdir)
        state = f'{logged_steps(workdir)} steps logged, checkpoints {steps or "none"}' + (
            f', write cut short: {", ".join(cut)}' if cut else ''
        )
        rerun = start(workdir, args.steps)
        finish(rerun)
        with open(workdir + '.log') as f:
            resumed = re.findall(r'resumed from step (\d+) of', f.read())
        got = final_metrics(workdir)
        same = got == expected
        failures += not same
        print(
            f'trial {trial}: kill -9 at {killed_at - began:.2f} s ({killed_at - first:.2f} s after '
            f'its first step; {state}); rerun resumed from step '
            f'{resumed[-1] if resumed else 0}: {describe(got)}: '
            f'{"equal to the reference" if same else "DIFFERS from the reference"}'
        )
        if not same:
            for key in ('top1', 'correct', 'eval_loss'):
                print(f'  {key}: {got[key]} vs {expected[key]}')
            for (step, a), (_, b) in zip(got['losses'], expected['losses'], strict=False):
                if a != b:
                    print(f'  first differing train loss: step {step}: {a} vs {b}')
                    break
    if trial < args.trials:
        print(f'only {trial} of {args.trials} runs could be killed before they finished')
        return 1
    print(f'{args.trials - failures} of {args.trials} trials equal to the uninterrupted run')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
