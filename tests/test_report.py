"""The sweep report on made-up results.json files with known answers."""

import csv
import json
import os
import subprocess
import sys

import pytest

from experiments import report
from experiments.reporting import sweep_table


def _run(root, name, *, params, macs, top1, seed, speed=100.0, wall=10.0, block=None, epochs=0.5):
    os.makedirs(root / name)
    results = {
        'model': 'ladder',
        'block': block or name.rsplit('-s', 1)[0],
        'dataset': 'digits',
        'params': params,
        'macs': macs,
        'top1': top1,
        'top5': None,
        'eval_loss': 1.0,
        'train_steps': 20,
        'global_batch': 8,
        'epochs': epochs,
        'train_images_per_sec': speed,
        'wall_time_s': wall,
        'devices': {'count': 1, 'kind': 'cpu'},
        'config': {'seed': seed},
    }
    (root / name / 'results.json').write_text(json.dumps(results))


@pytest.fixture
def root(tmp_path):
    # big: 3 seeds, top-1 0.80 0.84 0.88 (mean 0.84, sample std 0.04); 2M params.
    for seed, top1, speed in ((0, 0.80, 90.0), (1, 0.84, 100.0), (2, 0.88, 110.0)):
        _run(tmp_path, f'big-s{seed}', params=2_000_000, macs=8e8, top1=top1, seed=seed,
             speed=speed, wall=30.0 + seed)  # fmt: skip
    # small: fewer params, lower top-1: on the front.  mid: more params than small, lower
    # top-1 than small: dominated.  tiny: fewest params: on the front.
    _run(tmp_path, 'small-s0', params=500_000, macs=2e8, top1=0.75, seed=0)
    _run(tmp_path, 'mid-s0', params=1_000_000, macs=1e8, top1=0.70, seed=0)
    _run(tmp_path, 'tiny-s0', params=100_000, macs=5e7, top1=0.40, seed=0)
    # A checkpoint-like folder without results is ignored.
    os.makedirs(tmp_path / 'big-s0' / 'checkpoints' / '20')
    return tmp_path


def test_summary_means_spreads_and_accuracy_per_million(root):
    rows = {r.point: r for r in sweep_table.summarize(sweep_table.load_runs(str(root)))}
    assert set(rows) == {'big', 'small', 'mid', 'tiny'}
    big = rows['big']
    assert big.seeds == (0, 1, 2)
    assert big.top1_mean == pytest.approx(0.84)
    assert big.top1_std == pytest.approx(0.04)
    assert big.acc_per_mparams == pytest.approx(84.0 / 2.0)
    assert big.images_per_sec == pytest.approx(100.0)
    assert big.wall_time_s == pytest.approx(31.0)
    # 95% CI half-width by hand: t(0.975, 2 dof) = 4.302653 (a t table), s = 0.04, n = 3.
    assert big.ci95 == pytest.approx(4.302653 * 0.04 / 3**0.5, rel=1e-6)
    assert rows['tiny'].top1_std is None and rows['tiny'].ci95 is None
    assert rows['tiny'].acc_per_mparams == pytest.approx(40.0 / 0.1)


def test_pareto_front(root):
    rows = sweep_table.summarize(sweep_table.load_runs(str(root)))
    assert sweep_table.pareto_front(rows) == {'big', 'small', 'tiny'}


def test_pareto_ties_keep_both_equal_points_and_drop_the_weaker():
    def row(point, params, top1):
        return sweep_table.Row(point, 'b', params, 1, (0,), (top1,), None, 1.0)

    rows = [row('a', 100, 0.5), row('b', 100, 0.5), row('c', 100, 0.4), row('d', 200, 0.5)]
    assert sweep_table.pareto_front(rows) == {'a', 'b'}


def test_report_writes_tables_and_plots_in_the_given_order(root):
    records = report.report(str(root), order=['tiny', 'mid', 'small', 'big'])
    assert [r['point'] for r in records] == ['tiny', 'mid', 'small', 'big']
    for name in ('results.csv', 'runs.csv', 'results.md', 'top1_vs_params.png',
                 'top1_vs_macs.png'):  # fmt: skip
        assert (root / name).stat().st_size > 0, name
    assert (root / 'top1_vs_params.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with open(root / 'results.csv') as f:
        table = {r['point']: r for r in csv.DictReader(f)}
    assert float(table['big']['top1_mean']) == pytest.approx(84.0)
    assert float(table['big']['top1_std']) == pytest.approx(4.0)
    assert float(table['big']['top1_ci95']) == pytest.approx(9.9366, abs=1e-4)
    assert float(table['big']['top1_min']) == pytest.approx(80.0)
    assert float(table['big']['top1_max']) == pytest.approx(88.0)
    assert table['big']['seeds'] == '3'
    assert table['mid']['pareto'] == 'False' and table['small']['pareto'] == 'True'
    with open(root / 'runs.csv') as f:
        assert sorted(r['run'] for r in csv.DictReader(f)) == [
            'big-s0', 'big-s1', 'big-s2', 'mid-s0', 'small-s0', 'tiny-s0'
        ]  # fmt: skip
    md = (root / 'results.md').read_text()
    assert 'digits, 20 steps of 8 (0.50 epochs), 1 cpu device(s)' in md
    assert (
        '| big | big | 2,000,000 | 800,000,000 | 3 | 84.00 ± 4.00 | [74.06, 93.94] | '
        '80.00..88.00 | 42.0 |'
    ) in md
    assert '| tiny | tiny | 100,000 | 50,000,000 | 1 | 40.00 | - | - | 400.0 |' in md


def test_runs_at_several_budgets_make_a_learning_curve(tmp_path):
    for block, top1s in (('plain', (0.60, 0.70, 0.75)), ('sep', (0.50, 0.65, 0.72))):
        for epochs, top1 in zip((5, 10, 20), top1s, strict=True):
            _run(tmp_path, f'{block}-e{epochs}-s0', params=10, macs=10, top1=top1, seed=0,
                 block=block, epochs=float(epochs))  # fmt: skip
    _run(tmp_path, 'plain-e20-s1', params=10, macs=10, top1=0.77, seed=1, block='plain',
         epochs=20.0)  # fmt: skip
    # One seed's curve (the lowest, 0), not a mean: plain-e20's seed 1 (0.77) is left out.
    assert sweep_table.curve(sweep_table.load_runs(str(tmp_path))) == (0, {
        'plain': [(5.0, 60.0), (10.0, 70.0), (20.0, 75.0)],
        'sep': [(5.0, 50.0), (10.0, 65.0), (20.0, 72.0)],
    })  # fmt: skip
    records = report.report(str(tmp_path))
    assert (tmp_path / 'top1_vs_epochs.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert (tmp_path / 'top1_vs_params.png').exists()
    assert {r['pareto'] for r in records} == {None}  # no front across budgets in the table


def test_no_pareto_front_is_drawn_across_budgets(tmp_path, monkeypatch):
    fronts = []
    monkeypatch.setattr(report.plots, 'scatter', lambda *args: fronts.append(args[4:]))
    monkeypatch.setattr(report.plots, 'curve', lambda *args: None)
    for name, epochs_of in (('mixed', (5, 5, 10, 10)), ('one', (10, 10, 10, 10))):
        os.makedirs(tmp_path / name)
        for i, epochs in enumerate(epochs_of):
            _run(tmp_path / name, f'p{i}-s0', params=10 + i, macs=10, top1=0.5 + i / 10, seed=0,
                 epochs=float(epochs))  # fmt: skip
        report.report(str(tmp_path / name))
    # Each report: the params plot (with its front), then the MACs plot (none).
    assert fronts == [(set(),), (), ({'p0', 'p1', 'p2', 'p3'},), ()]


def test_a_sweep_of_three_points_or_fewer_is_drawn_as_arms(tmp_path):
    for point, top1s in (('sep-none', (0.70, 0.72)), ('sep-relu', (0.60, 0.62))):
        for seed, top1 in enumerate(top1s):
            _run(tmp_path, f'{point}-s{seed}', params=10, macs=10, top1=top1, seed=seed)
    report.report(str(tmp_path))
    assert (tmp_path / 'top1_by_arm.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert not (tmp_path / 'top1_vs_params.png').exists()
    assert not (tmp_path / 'top1_vs_macs.png').exists()


def test_error_bars_say_what_they_are():
    def row(n):
        return sweep_table.Row('p', 'b', 1, 1, tuple(range(n)), (0.5,) * n, None, 1.0)

    assert report.plots.ci_label([row(3), row(3)]) == 'mean, 95% CI over 3 seeds'
    assert report.plots.ci_label([row(2), row(3), row(1)]) == (
        'mean, 95% CI over 2..3 seeds (each in the legend)'
    )
    assert report.plots.ci_label([row(1)]) == 'one seed a point, no interval'


def test_one_budget_makes_no_learning_curve(root):
    report.report(str(root))
    assert not (root / 'top1_vs_epochs.png').exists()


def test_points_that_disagree_on_the_model_are_rejected(tmp_path):
    _run(tmp_path, 'x-s0', params=10, macs=10, top1=0.5, seed=0)
    _run(tmp_path, 'x-s1', params=11, macs=10, top1=0.5, seed=1)
    with pytest.raises(ValueError, match="point 'x': runs disagree"):
        sweep_table.summarize(sweep_table.load_runs(str(tmp_path)))


def test_plot_titles_read_out_a_budget_directory():
    assert report.plot_title('experiments/results/ladder/e40/') == 'ladder, 40 epochs'
    assert report.plot_title('runs/cifar10/e0.38') == 'cifar10, 0.38 epochs'
    assert report.plot_title('experiments/results/ladder_1epoch') == 'ladder_1epoch'
    assert report.plot_title('e40') == 'e40'  # no sweep name to read


def test_empty_root_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match='no results.json under'):
        report.report(str(tmp_path))


def test_cli_prints_the_table(root):
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.report', f'--root={root}'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '| small | small | 500,000 |' in result.stdout
    assert (root / 'results.csv').exists()


def test_cli_unknown_sweep_is_one_line(root):
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.report', f'--root={root}', '--sweep=nope'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: unknown sweep 'nope'; choose from")
    assert not (root / 'results.csv').exists()


@pytest.mark.parametrize('flag', ['--root=', '--budget=', '--results='])
def test_cli_empty_directory_flag_is_one_line(flag):
    # `--root=$UNSET` would otherwise read the committed results instead.
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.report', '--claims', flag, '--readme=/nonexistent'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    name = flag.strip('-=')
    assert result.stderr.strip() == (
        f'error: --{name} is empty; give a directory, or leave the flag out'
    )


def test_a_sweep_that_grows_past_three_points_loses_its_arms_picture(tmp_path):
    for point in ('a', 'b'):
        _run(tmp_path, f'{point}-s0', params=10, macs=10, top1=0.5, seed=0)
    report.report(str(tmp_path))
    assert (tmp_path / 'top1_by_arm.png').exists()
    for point in ('c', 'd'):
        _run(tmp_path, f'{point}-s0', params=20, macs=20, top1=0.6, seed=0)
    report.report(str(tmp_path))
    assert not (tmp_path / 'top1_by_arm.png').exists()
    assert (tmp_path / 'top1_vs_params.png').exists() and (tmp_path / 'top1_vs_macs.png').exists()
