"""Calling a benchmark worker: one process per (framework, network), its one result line read.

The workers (experiments/bench/workers/) print one `RESULT {json}` line each; the train
benchmark (experiments/train_benchmark.py) and the conv benchmark
(experiments/bench/conv_benchmark.py) start them here, from the repository's root, and turn a
missing peer, a timeout or a worker without a result into a note instead of a number.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from typing import Any

from experiments.bench.workers.protocol import RESULT_PREFIX

# What a peer's Python must import for its worker to run.
PEER_MODULES = {'torch': ('torch',), 'keras': ('keras', 'jax')}


# The repository's root: workers run from it, with it on their path.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The worker's `RESULT {json}` line as a dict; None if it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return None


def missing_peer_note(python: str, framework: str) -> str | None:
    """Why `framework`'s worker cannot run under `python` (None: it can).

    Args:
      python: the peers' interpreter ('' when none was given).
      framework: 'torch' or 'keras'.
    """
    modules = PEER_MODULES[framework]
    if not python:
        return f'{framework}: skipped (no --peers_python; see requirements-peers.txt)'
    if not os.path.exists(python):
        return f'{framework}: skipped ({python} does not exist; see requirements-peers.txt)'
    probe = subprocess.run(
        [python, '-c', 'import ' + ', '.join(modules)],
        capture_output=True,
        text=True,
        env=dict(os.environ, KERAS_BACKEND='jax'),  # keras otherwise imports TensorFlow
    )
    if probe.returncode:
        error = (probe.stderr.strip().splitlines() or ['no output'])[-1]
        return f'{framework}: skipped ({python} cannot import {", ".join(modules)}: {error})'
    return None


def call_worker(
    command: list[str], timeout: int | None = None, omp_wait_policy: str = ''
) -> tuple[dict[str, Any] | None, str | None]:
    """Runs one worker process quietly: (its result, None) or (None, a note saying why not).

    `omp_wait_policy` sets OMP_WAIT_POLICY for the workers ('' leaves OpenMP's default, which
    spins at barriers): PASSIVE keeps a spinning thread from holding a core its partner waits
    for on a machine shared past its cores (experiments/results/omp_wait_policy.md).
    """
    env = dict(os.environ, PYTHONPATH=ROOT, KERAS_BACKEND='jax')
    if omp_wait_policy:
        env['OMP_WAIT_POLICY'] = omp_wait_policy
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f'timed out after {timeout} s'
    result = parse_result(done.stdout)
    if result is None:
        tail = (done.stderr.strip().splitlines() or ['no output'])[-1]
        return None, f'exit {done.returncode}, no result: {tail}'
    return result, None


def run_worker(
    command: list[str], timeout: int, omp_wait_policy: str = ''
) -> tuple[dict[str, Any] | None, str | None]:
    """`call_worker`, with the command and its result printed to the benchmark's log."""
    print('$', shlex.join(command), flush=True)
    result, note = call_worker(command, timeout, omp_wait_policy)
    if result is not None:
        print('  ', json.dumps(result), flush=True)
    return result, note
