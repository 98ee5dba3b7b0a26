"""The train-step benchmark's harness: result lines, ratios, skipped peers, tables; the ladder
rows' parameter counts, lineage's and (where the peers' venv exists) the PyTorch twin's."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
from flax import nnx

from experiments import step_timer
from experiments import train_benchmark as tb
from experiments.bench import ladder_shape, worker_calls
from experiments.bench.workers import protocol
from experiments.sweeping import sweeps
from lineage import counting
from lineage.models.registry import build_model


def _result(framework, images_per_s, **extra):
    return {
        'framework': framework,
        'network': 'resnet50',
        'image_size': 32,
        'batch_size': 128,
        'images_per_s': images_per_s,
        'images_per_cpu_s': images_per_s / 2 if images_per_s else None,
        'peak_rss_mib': 1000.0,
        'first_step_s': 10.0,
        'first_step_cpu_s': 8.0,
        'params': 25557032,
        **extra,
    }


def test_emit_line_parses_back_with_median_throughput(capsys):
    args = argparse.Namespace(network='resnet50', image_size=32, batch_size=128)
    protocol.emit(args, 'lineage', [0.5, 0.25, 2.0], 1.6, params=7)
    out = 'some log line\n' + capsys.readouterr().out + 'trailing log\n'
    result = worker_calls.parse_result(out)
    assert result['framework'] == 'lineage'
    assert result['images_per_s'] == pytest.approx(128 / 0.5)  # the median step, not the mean
    assert result['images_per_cpu_s'] == pytest.approx(3 * 128 / 1.6)
    assert result['params'] == 7
    assert result['peak_rss_mib'] > 10  # this very process's ru_maxrss, in MiB


def test_emit_without_timed_steps_gives_no_throughput(capsys):
    args = argparse.Namespace(network='googlenet', image_size=224, batch_size=4)
    protocol.emit(args, 'lineage', [], 0.0)
    result = worker_calls.parse_result(capsys.readouterr().out)
    assert result['images_per_s'] is None and result['images_per_cpu_s'] is None


def test_parse_result_none_without_result_line():
    assert (
        worker_calls.parse_result('Traceback (most recent call last):\n  ...\nValueError: x\n')
        is None
    )


def test_time_steps_runs_warmup_untimed():
    calls = []
    durations, cpu = step_timer.time_steps(lambda: calls.append(1), warmup=2, steps=3)
    assert len(calls) == 5 and len(durations) == 3
    assert all(d >= 0 for d in durations) and cpu >= 0


def test_ratio():
    assert tb.ratio(300.0, 150.0) == pytest.approx(2.0)
    assert tb.ratio(100.0, 400.0) == pytest.approx(0.25)
    assert tb.ratio(None, 150.0) is None
    assert tb.ratio(300.0, None) is None


def test_missing_peer_notes(tmp_path, monkeypatch):
    assert 'no --peers_python' in worker_calls.missing_peer_note('', 'torch')
    absent = str(tmp_path / 'bin' / 'python')
    assert 'does not exist' in worker_calls.missing_peer_note(absent, 'keras')
    monkeypatch.setitem(worker_calls.PEER_MODULES, 'torch', ('no_such_module_for_this_test',))
    note = worker_calls.missing_peer_note(sys.executable, 'torch')
    assert note.startswith('torch: skipped') and 'no_such_module_for_this_test' in note
    monkeypatch.setitem(worker_calls.PEER_MODULES, 'keras', ('json',))
    assert worker_calls.missing_peer_note(sys.executable, 'keras') is None


def test_run_worker_failure_is_a_note_not_a_number():
    command = [sys.executable, '-c', 'import sys; print("log"); sys.exit("worker broke")']
    result, note = worker_calls.run_worker(command, timeout=60)
    assert result is None and 'exit 1' in note and 'worker broke' in note


def test_run_worker_returns_the_result_line():
    line = protocol.RESULT_PREFIX + json.dumps(_result('torch', 200.0))
    result, note = worker_calls.run_worker([sys.executable, '-c', f'print({line!r})'], timeout=60)
    assert note is None and result['images_per_s'] == 200.0


@pytest.mark.parametrize('policy', ['', 'PASSIVE'])
def test_run_worker_sets_omp_wait_policy_only_when_given(policy, monkeypatch):
    monkeypatch.delenv('OMP_WAIT_POLICY', raising=False)
    policy_json = 'json.dumps({"policy": os.environ.get("OMP_WAIT_POLICY")})'
    code = f'import json, os; print({protocol.RESULT_PREFIX!r} + {policy_json})'
    result, note = worker_calls.run_worker(
        [sys.executable, '-c', code], timeout=60, omp_wait_policy=policy
    )
    assert note is None and result['policy'] == (policy or None)


def test_worker_command_passes_options_to_lineage_only():
    lineage = tb.worker_command('lineage', 'py', 'xception', 128, 32, 3, 2, '{"conv_impl": "xla"}')
    assert lineage[:3] == ['py', '-m', 'experiments.bench.workers.lineage_worker']
    assert '--image_size=128' in lineage and '--options={"conv_impl": "xla"}' in lineage
    torch = tb.worker_command('torch', 'py', 'xception', 128, 32, 3, 2, '{"conv_impl": "xla"}')
    assert not any(a.startswith('--options') for a in torch)


def test_combine_takes_medians_and_largest_memory():
    rounds = [_result('lineage', 100.0), _result('lineage', 300.0), _result('lineage', 200.0)]
    rounds[2]['peak_rss_mib'] = 1500.0
    row = tb.combine(rounds)
    assert row['images_per_s'] == 200.0 and row['peak_rss_mib'] == 1500.0 and row['rounds'] == 3


def test_train_table_ratios_and_missing_peer_cells():
    rows = {'resnet50': {'lineage': _result('lineage', 150.0), 'torch': _result('torch', 300.0)}}
    table = tb.train_table(rows, ['lineage', 'torch', 'keras'])
    wall = next(line for line in table.splitlines() if line.startswith('| resnet50'))
    # lineage, torch, keras images/s; lineage/torch 0.50; keras missing: '-' not a number.
    assert wall == '| resnet50 | 32x32, 128 | 150.0 | 300.0 | - | 0.50 | - |'
    assert 'lineage/keras' in table and 'images/CPU-s' in table


def test_first_step_table_flags_over_60_s():
    fast = _result('lineage', None, init_s=1.0, lower_s=2.0, compile_s=20.0, compile_cpu_s=19.0)
    fast.update(first_step_s=95.0, first_step_cpu_s=25.0)  # waited for cores: CPU s judge
    slow = dict(fast, network='xception', first_step_s=75.0, first_step_cpu_s=61.0)
    lines = tb.first_step_table([fast, slow]).splitlines()
    assert lines[2].endswith('| 20.0 (19.0) | 95.0 (25.0) | yes |')
    assert lines[3].endswith('| no |') and '25,557,032' in lines[2]


# Exact parameter counts of every ladder rung at the ladder rows' shape (widths 16/32/64, depths
# 1/1/1, 3 input channels, 10 classes): lineage's ladder and its PyTorch twin must both match.
LADDER_PARAMS = {
    'plain3x3': 75_290,
    'plain5x5': 206_362,
    'naive_inception': 15_354,
    'inception': 13_846,
    'factorized': 13_377,
    'bottleneck': 9_274,
    'separable': 14_090,
    'mobilenet_separable': 11_690,
    'inverted_residual': 32_442,
}
PEERS_PYTHON = os.path.join(worker_calls.ROOT, '.venv-peers', 'bin', 'python')


def test_every_ladder_rung_has_a_count():
    assert set(LADDER_PARAMS) == set(sweeps.RUNGS)


@pytest.mark.parametrize('rung', sweeps.RUNGS)
def test_lineage_ladder_rung_has_the_counted_parameters(rung):
    model = nnx.eval_shape(
        lambda: build_model(
            'ladder',
            num_classes=ladder_shape.LADDER_CLASSES,
            rngs=nnx.Rngs(0),
            block=rung,
            **ladder_shape.LADDER_MODEL,
        )
    )
    assert counting.param_count(model) == LADDER_PARAMS[rung]


def test_torch_twin_has_the_counted_parameters_per_rung():
    """The twin's counts, in the peers' Python (torch alone); skipped where there is none."""
    if not os.path.exists(PEERS_PYTHON):
        pytest.skip(f'no peers venv at {PEERS_PYTHON} (requirements-peers.txt)')
    twin = f'Ladder(b, num_classes={ladder_shape.LADDER_CLASSES}, **{ladder_shape.LADDER_MODEL!r})'
    code = (
        'import json; from experiments.bench.workers.torch_ladder import Ladder\n'
        f'print(json.dumps({{b: sum(p.numel() for p in {twin}.parameters()) '
        f'for b in {list(sweeps.RUNGS)!r}}}))'
    )
    done = subprocess.run(
        [PEERS_PYTHON, '-c', code],
        cwd=worker_calls.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "No module named 'torch'" in done.stderr:
        pytest.skip(f'{PEERS_PYTHON} cannot import torch')
    assert json.loads(done.stdout.splitlines()[-1]) == LADDER_PARAMS, done.stderr[-2000:]


def test_worker_command_of_a_ladder_row_gives_both_workers_the_rung():
    for framework in ('lineage', 'torch'):
        command = tb.worker_command(framework, 'py', 'ladder', 32, 64, 3, 2, '{}', 'separable')
        options = json.loads(next(a for a in command if a.startswith('--options='))[10:])
        assert options == {
            'model': {'block': 'separable', 'widths': [16, 32, 64], 'depths': [1, 1, 1]},
            'nesterov': True,
        }
        assert '--num_classes=10' in command and '--batch_size=64' in command


@pytest.mark.parametrize(
    'flag, line',
    [
        (
            '--frameworks=lineage,jax',
            'error: --frameworks: unknown jax; choose from lineage, torch',
        ),
        (
            '--ladder_rungs=plain3x3,plain7x7',
            'error: --ladder_rungs: unknown plain7x7; choose from',
        ),
        ('--networks=vgg16', 'error: --networks: unknown vgg16; choose from mobilenet_v2'),
        ('--steps=0', 'error: --steps=0: give a value >= 1'),
    ],
)
def test_cli_a_wrong_name_or_count_is_one_line_before_any_worker(flag, line, tmp_path):
    output = tmp_path / 'out.md'
    done = subprocess.run(
        [sys.executable, '-m', 'experiments.train_benchmark', flag, f'--output={output}'],
        cwd=worker_calls.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith(line), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not output.exists()
