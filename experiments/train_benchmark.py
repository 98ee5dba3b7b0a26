r"""Train-step images/s and peak memory of the ladder and the reference networks: lineage,
PyTorch (+timm), Keras 3.

    python -m experiments.train_benchmark --peers_python=.venv-peers/bin/python \
        --output=experiments/results/train_benchmark.md

The ladder rows (`--ladder_rungs`) are the ablations' shape: every rung of the ladder at widths
16/32/64, depths 1/1/1, 32x32 inputs, batch 64, 10 classes, SGD with Nesterov momentum, beside
its PyTorch twin (experiments/bench/workers/torch_ladder.py; no Keras twin). The reference rows
(`TRAIN_ROWS`) are the four wide networks beside timm's and Keras's.

Each (framework, network) pair runs in its own process (experiments/bench/workers/), and the
processes alternate in one run (for each network: lineage, torch, keras; repeated `--rounds`
times), so that a busy shared machine slows all three alike. Per row: images/s over the median
timed step, images per CPU-second of the worker process (its user + system time over the timed
steps: the work itself, not the wait for a core), peak resident memory, and the ratios
lineage/peer. Then lineage's time to the first step (trace, XLA compile, first execution) for
every reference network at a small batch. Under `taskset -c 0` (one core): the 1-thread rows.

The peers are optional and live in their own venv (requirements-peers.txt); a peer that cannot
be imported, or a worker that fails, gives a printed note and empty cells, never a number.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from absl import app, flags

from experiments.bench.ladder_shape import LADDER_BATCH, LADDER_CLASSES, LADDER_MODEL, LADDER_SIZE
from experiments.bench.worker_calls import missing_peer_note, run_worker
from experiments.reporting import markdown
from experiments.sweeping import sweeps
from lineage.models import model_info

# (network, image size, batch) of the train-step rows: the shapes of the PyTorch numbers that
# set the speed goal (experiments/results/train_benchmark.md).
TRAIN_ROWS = (
    ('mobilenet_v2', 32, 128),
    ('resnet50', 32, 128),
    ('xception', 128, 32),
    ('inception_v3', 128, 32),
)
# Every reference network for the time to first step, at its paper's input size (`model_info`).
FIRST_STEP_ROWS = (
    'googlenet',
    'inception_v3',
    'xception',
    'mobilenet_v1',
    'mobilenet_v2',
    'resnet50',
)
FRAMEWORKS = ('lineage', 'torch', 'keras')
FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command's flags, defined when run (not at import: tests import this module beside
    other experiments that define `--output`)."""
    flags.DEFINE_string('peers_python', '', 'Python with torch+timm and keras+jax; empty: no peers')
    flags.DEFINE_list('ladder_rungs', list(sweeps.RUNGS), 'ladder rows (sweeps.RUNGS); empty: none')
    flags.DEFINE_list('networks', [r[0] for r in TRAIN_ROWS], 'train-step rows to run')
    flags.DEFINE_list('frameworks', list(FRAMEWORKS), 'frameworks to run, of lineage,torch,keras')
    flags.DEFINE_integer('rounds', 1, 'times the alternating sequence runs; per-row medians')
    flags.DEFINE_integer('warmup', 2, 'untimed steps after the first')
    flags.DEFINE_integer('steps', 3, 'timed steps per process')
    flags.DEFINE_list(
        'first_step_networks',
        list(FIRST_STEP_ROWS),
        "lineage's time to first step; empty: skip",
    )
    flags.DEFINE_integer('first_step_batch', 4, 'batch for the time-to-first-step rows')
    flags.DEFINE_string('lineage_options', '{}', 'JSON options for the lineage worker (conv_impl)')
    flags.DEFINE_string(
        'omp_wait_policy',
        '',
        "workers' OMP_WAIT_POLICY; '' = OpenMP's default (PASSIVE on a busy machine)",
    )
    flags.DEFINE_integer('timeout', 1800, 'seconds before one worker is abandoned (with a note)')
    flags.DEFINE_string('output', '', 'also write the markdown report here')


def ratio(lineage: float | None, peer: float | None) -> float | None:
    """lineage / peer throughput (> 1: lineage faster); None if either is missing."""
    if not lineage or not peer:
        return None
    return lineage / peer


def worker_command(
    framework: str,
    python: str,
    network: str,
    size: int,
    batch: int,
    steps: int,
    warmup: int,
    lineage_options: str = '{}',
    rung: str | None = None,
) -> list[str]:
    """One framework's worker on one network; for a ladder `rung`, the twins' shared options."""
    command = [python, '-m', f'experiments.bench.workers.{framework}_worker']
    command += [f'--network={network}', f'--image_size={size}', f'--batch_size={batch}']
    command += [f'--steps={steps}', f'--warmup={warmup}']
    peer = {'keras': 'keras', 'torch': 'timm'}.get(framework)
    if peer and not rung and (peer_model := getattr(model_info(network), peer)):
        command.append(f'--peer_model={peer_model}')
    options = json.loads(lineage_options) if framework == 'lineage' else {}
    if rung:
        options.update(model={'block': rung, **LADDER_MODEL}, nesterov=True)
        command.append(f'--num_classes={LADDER_CLASSES}')
    if framework == 'lineage' or rung:
        command.append(f'--options={json.dumps(options)}')
    return command


def combine(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row from several rounds' results: median throughputs, largest peak memory."""
    row = dict(results[0])
    for key in ('images_per_s', 'images_per_cpu_s', 'first_step_s', 'first_step_cpu_s'):
        values = [r[key] for r in results if r.get(key) is not None]
        row[key] = statistics.median(values) if values else None
    row['peak_rss_mib'] = max(r['peak_rss_mib'] for r in results)
    row['rounds'] = len(results)
    return row


def _num(value: float | None, digits: int = 1) -> str:
    return '-' if value is None else f'{value:,.{digits}f}'


def train_table(rows: dict[str, dict[str, dict[str, Any]]], frameworks: Sequence[str]) -> str:
    """Markdown tables of the train-step rows: `rows[network][framework]` = combined result."""
    peers = [f for f in frameworks if f != 'lineage']
    head = ['network', 'input, batch']
    lines = []
    for metric, label in (('images_per_s', 'images/s'), ('images_per_cpu_s', 'images/CPU-s')):
        cols = head + [f'{f} {label}' for f in frameworks]
        cols += [f'lineage/{p}' for p in peers]
        lines += markdown.header(cols)
        for network, by in rows.items():
            any_result = next(iter(by.values()))
            cells = [
                network,
                f'{any_result["image_size"]}x{any_result["image_size"]}, '
                f'{any_result["batch_size"]}',
            ]
            cells += [_num(by.get(f, {}).get(metric)) for f in frameworks]
            own = by.get('lineage', {}).get(metric)
            cells += [_num(ratio(own, by.get(p, {}).get(metric)), 2) for p in peers]
            lines.append(markdown.row(cells))
        lines.append('')
    cols = (
        ['network']
        + [f'{f} peak MiB' for f in frameworks]
        + [f'{f} first step s (CPU s)' for f in frameworks]
        + [f'{f} params' for f in frameworks]
    )
    lines += markdown.header(cols)
    for network, by in rows.items():
        cells = [network] + [_num(by.get(f, {}).get('peak_rss_mib'), 0) for f in frameworks]
        for f in frameworks:
            r = by.get(f, {})
            cells.append(
                f'{_num(r.get("first_step_s"))} ({_num(r.get("first_step_cpu_s"))})' if r else '-'
            )
        cells += [_num(by.get(f, {}).get('params'), 0) for f in frameworks]
        lines.append(markdown.row(cells))
    return '\n'.join(lines) + '\n'


def first_step_table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown table of lineage's time to the first step, split into its parts.

    Each cell is wall seconds with the process's CPU seconds in brackets: on a shared machine
    the wall clock waits for cores, and XLA compiles on one thread, so the CPU seconds are
    what the step costs an idle machine. 'under 60 s' judges the CPU seconds.
    """
    cols = [
        'network',
        'input, batch',
        'params',
        'init s',
        'trace+lower s',
        'compile s',
        'first step s (trace+compile+run)',
        'under 60 s',
    ]
    lines = markdown.header(cols)

    def cell(r: dict[str, Any], key: str) -> str:
        cpu = r.get(key.removesuffix('_s') + '_cpu_s')
        return _num(r.get(key)) + ('' if cpu is None else f' ({_num(cpu)})')

    for r in results:
        seconds = r.get('first_step_cpu_s', r['first_step_s'])
        cells = [
            r['network'],
            f'{r["image_size"]}x{r["image_size"]}, {r["batch_size"]}',
            _num(r['params'], 0),
            cell(r, 'init_s'),
            cell(r, 'lower_s'),
            cell(r, 'compile_s'),
            cell(r, 'first_step_s'),
            'yes' if seconds < 60 else 'no',
        ]
        lines.append(markdown.row(cells))
    return '\n'.join(lines) + '\n'


def machine_line() -> str:
    """The machine the numbers come from."""
    return (
        f'{platform.machine()}, {len(os.sched_getaffinity(0))} of {os.cpu_count()} CPU cores, '
        f'{platform.system()} {platform.release()}, Python {platform.python_version()}'
    )


def render(
    rows: dict[str, dict[str, dict[str, Any]]],
    first_steps: Sequence[dict[str, Any]],
    frameworks: Sequence[str],
    notes: Sequence[str],
    loads: Sequence[tuple[str, tuple[float, ...]]],
    minutes: float,
    versions: dict[str, str],
) -> str:
    """The markdown report: command, machine and load, the tables, the notes."""
    load_text = '; '.join(f'{when} {", ".join(f"{x:.1f}" for x in load)}' for when, load in loads)
    report = [
        '# Train-step benchmark: lineage vs PyTorch+timm vs Keras 3 (JAX backend)',
        '',
        'Command: `'
        + shlex.join(['python', '-m', 'experiments.train_benchmark'] + sys.argv[1:])
        + '`',
        '',
        f'Machine: {machine_line()}. Load average (1, 5, 15 min): {load_text}. '
        f'Wall time {minutes:.1f} min.',
        '',
        'Versions: ' + '; '.join(f'{f}: {v}' for f, v in versions.items()),
        '',
        'Float32, random data; ladder rows: 10 classes, SGD Nesterov momentum 0.9; reference '
        f'rows: 1000 classes, SGD momentum 0.9; {FLAGS.warmup} warm-up and '
        f'{FLAGS.steps} timed steps per process, {FLAGS.rounds} round(s) alternating '
        f'{" / ".join(frameworks)}. lineage options: {FLAGS.lineage_options}. OMP_WAIT_POLICY: '
        f'{FLAGS.omp_wait_policy or "unset (OpenMP default)"}.',
        '',
    ]
    if rows:
        report += ['## Train step', '', train_table(rows, frameworks)]
    if first_steps:
        report += ["## lineage's time to first step", '', first_step_table(first_steps)]
    if notes:
        report += ['## Notes', ''] + [f'- {n}' for n in notes] + ['']
    return '\n'.join(report)


def flag_problem() -> str | None:
    """The first name or count the flags get wrong, as one line; None if they are right."""
    choices = {
        'frameworks': FRAMEWORKS,
        'ladder_rungs': sweeps.RUNGS,
        'networks': [r[0] for r in TRAIN_ROWS],
        'first_step_networks': FIRST_STEP_ROWS,
    }
    for name, allowed in choices.items():
        if unknown := [v for v in getattr(FLAGS, name) if v not in allowed]:
            return f'--{name}: unknown {", ".join(unknown)}; choose from {", ".join(allowed)}'
    for name, least in (('rounds', 1), ('steps', 1), ('warmup', 0), ('first_step_batch', 1)):
        if getattr(FLAGS, name) < least:
            return f'--{name}={getattr(FLAGS, name)}: give a value >= {least}'
    return None


def main(argv: Sequence[str]) -> None:
    del argv
    if problem := flag_problem():
        sys.exit(f'error: {problem}')
    frameworks = list(FLAGS.frameworks)
    notes = []
    for framework in frameworks[:]:
        if framework != 'lineage' and (note := missing_peer_note(FLAGS.peers_python, framework)):
            print(note, flush=True)
            notes.append(note)
            frameworks.remove(framework)
    start = time.time()
    loads = [('at start', os.getloadavg())]
    collected: dict[str, dict[str, list[dict[str, Any]]]] = {}
    first_steps: list[dict[str, Any]] = []
    versions: dict[str, str] = {}

    def report(final: bool = False) -> str:
        # Rewritten after every worker, so a run cut short still leaves what it measured.
        rows = {n: {f: combine(rs) for f, rs in by.items()} for n, by in collected.items()}
        now = [(('at end' if final else 'so far'), os.getloadavg())]
        text = render(
            rows, first_steps, frameworks, notes, loads + now, (time.time() - start) / 60, versions
        )
        if FLAGS.output:
            with open(FLAGS.output, 'w') as f:
                f.write(text)
        return text

    def run(framework, python, network, size, batch, steps, rung=None):
        shape = (network, size, batch, steps, FLAGS.warmup)
        command = worker_command(framework, python, *shape, FLAGS.lineage_options, rung)
        result, note = run_worker(command, FLAGS.timeout, FLAGS.omp_wait_policy)
        if note:
            notes.append(f'{framework} {network} {size}x{size}: {note}')
            print(notes[-1], flush=True)
        else:
            versions[framework] = result.get('version')
        return result

    rows = [(f'ladder {r}', 'ladder', LADDER_SIZE, LADDER_BATCH, r) for r in FLAGS.ladder_rungs]
    rows += [(n, n, size, batch, None) for n, size, batch in TRAIN_ROWS if n in FLAGS.networks]
    for _ in range(FLAGS.rounds):
        for row, network, size, batch, rung in rows:
            for framework in [f for f in frameworks if not (rung and f == 'keras')]:  # no twin
                python = sys.executable if framework == 'lineage' else FLAGS.peers_python
                if result := run(framework, python, network, size, batch, FLAGS.steps, rung):
                    collected.setdefault(row, {}).setdefault(framework, []).append(result)
                report()
    if collected:
        loads.append(('after the train-step rows', os.getloadavg()))
    for network in FLAGS.first_step_networks:
        size = model_info(network).input_size
        if result := run('lineage', sys.executable, network, size, FLAGS.first_step_batch, 0):
            first_steps.append(result)
        report()
    print(report(final=True))


if __name__ == '__main__':
    define_flags()
    app.run(main)
