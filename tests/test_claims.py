"""The claims' test (Welch's interval of the difference, its verdicts, the seeds for 80% power)
on hand-computed cases, and the claims table on made-up committed results."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

from experiments import report
from experiments.report import CLAIMS_BEGIN, CLAIMS_END, SUMMARY_BEGIN, SUMMARY_END
from experiments.reporting import claims, sweep_table, welch

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_welch_interval_matches_a_worked_example():
    # a = 1, 2, 3: mean 2, variance 1.  b = 2, 4, 6, 8: mean 5, variance 20/3.
    # Squared standard error: 1/3 + (20/3)/4 = 2.  Welch-Satterthwaite degrees of freedom:
    # 2^2 / ((1/3)^2 / 2 + (5/3)^2 / 3) = 4 / (1/18 + 25/27) = 216/53 = 4.0755.
    # t(0.975) at 4.0755 df, interpolated in 1/df between a t table's 2.7764 (4 df) and
    # 2.5706 (5 df): 2.7764 - (0.25 - 53/216) / 0.05 * 0.2058 = 2.757.
    interval = welch.welch((1.0, 2.0, 3.0), (2.0, 4.0, 6.0, 8.0))
    assert interval.difference == pytest.approx(-3.0)
    assert interval.df == pytest.approx(216 / 53)
    t = (interval.high - interval.difference) / math.sqrt(2)
    assert t == pytest.approx(2.757, abs=2e-3)
    assert interval.difference - interval.low == pytest.approx(interval.high - interval.difference)
    assert welch.welch((1.0,), (2.0, 3.0)) is None  # one seed: no interval


# 70, 71, 72 against 60, 61, 62: difference 10, standard error sqrt(1/3 + 1/3) = 0.8165,
# 4 df (equal variances and sizes), t(0.975, 4) = 2.7764: interval 10 +- 2.267 = [7.733, 12.267].
HIGH, LOW = (70.0, 71.0, 72.0), (60.0, 61.0, 62.0)


def test_the_worked_interval_of_equal_arms():
    interval = welch.welch(HIGH, LOW)
    assert (interval.low, interval.high) == (pytest.approx(7.733, abs=1e-3),
                                             pytest.approx(12.267, abs=1e-3))  # fmt: skip
    assert interval.df == pytest.approx(4.0)


@pytest.mark.parametrize(
    ('a', 'b', 'kind', 'margin', 'expected'),
    [
        (HIGH, LOW, 'higher', 0.0, welch.REPRODUCED),  # [7.73, 12.27] above 0
        (LOW, HIGH, 'higher', 0.0, welch.CONTRADICTED),  # [-12.27, -7.73] below 0
        (HIGH, (69.0, 71.0, 73.0), 'higher', 0.0, welch.INCONCLUSIVE),  # straddles 0
        (LOW, HIGH, 'keeps', 13.0, welch.REPRODUCED),  # lower end -12.27 above -13
        (LOW, HIGH, 'keeps', 7.0, welch.CONTRADICTED),  # upper end -7.73 below -7
        (LOW, HIGH, 'keeps', 12.0, welch.INCONCLUSIVE),  # -12 inside [-12.27, -7.73]
        (HIGH, (50.0,), 'higher', 0.0, welch.INCONCLUSIVE),  # one seed: no interval
    ],
)
def test_each_verdict(a, b, kind, margin, expected):
    assert welch.decide(kind, margin, welch.welch(a, b)) == expected


def test_an_unknown_kind_is_one_clear_error():
    with pytest.raises(ValueError, match="'lower' is not 'higher' or 'keeps'"):
        welch.decide('lower', 0.0, welch.welch(HIGH, LOW))


def test_seeds_for_power_against_known_cases():
    # Two-sample t, alpha 0.05 two-sided, 80% power: 17 a side at d = 1 and 64 at d = 0.5
    # (Cohen 1988, Table 2.4.1); the normal approximation 2 (1.960 + 0.842)^2 / d^2 gives 15.7
    # and 62.8, which the t's heavier tails round up.
    assert welch.seeds_for_power(1.0, 1.0) == 17
    assert welch.seeds_for_power(-0.5, 1.0) == 64  # the side does not matter
    assert welch.power(1.0, 1.0, 16) < 0.8 <= welch.power(1.0, 1.0, 17)
    assert welch.seeds_for_power(2.0, 2.0) == 17  # only effect / sd counts
    assert welch.seeds_for_power(0.0, 1.0) is None  # no difference: never
    assert welch.seeds_for_power(0.01, 1.0) is None  # past MAX_SEEDS


def test_pooled_sd_by_hand():
    # Sums of squares 2 (1, 2, 3) and 20 (2, 4, 6, 8) over 3 + 4 - 2 = 5 df: sqrt(22/5).
    assert welch.pooled_sd((1.0, 2.0, 3.0), (2.0, 4.0, 6.0, 8.0)) == pytest.approx(math.sqrt(4.4))


def test_an_arm_reads_the_mean_the_sweep_table_shows_even_on_a_rounding_tie():
    # plain3x3-w7's two seeds, 76.39 and 76.28: their mean 76.335 read 76.34 in the claims
    # (the mean of percentages) and 76.33 in the sweep table (100 x the mean of fractions).
    row = sweep_table.Row('p', 'p', 14_801, 2_451_736, (0, 1), (0.7639, 0.7628), None, 1.0)
    table = sweep_table.table([row], None)[0]
    assert f'{table["top1_mean"]:.2f} sd {table["top1_std"]:.2f}' == '76.33 sd 0.08'
    assert claims._arm_text('p', row) == 'p: n 2, 76.33 sd 0.08 (14,801 params, 2.45M MACs)'


def test_a_keeps_comparison_powers_the_distance_from_its_margin():
    # 70.5, 71.5, 72.5 against 70, 71, 72: difference 0.5, 1.5 from the -1 margin; sd 1.
    row = sweep_table.Row
    rows = {
        'a': row('a', 'a', 1, 1, (0, 1, 2), (0.705, 0.715, 0.725), None, 1.0),
        'b': row('b', 'b', 1, 1, (0, 1, 2), (0.70, 0.71, 0.72), None, 1.0),
    }
    x = claims.assess(claims.Comparison('s', 'a', 'b', 'keeps', 1.0), rows)
    assert x.verdict == welch.INCONCLUSIVE  # [0.5 - 2.267, 0.5 + 2.267] holds -1
    assert x.seeds_for_power() == welch.seeds_for_power(1.5, 1.0) == 9


def test_claim_verdicts_combine_comparisons():
    def made(verdict, missing=()):
        return claims.Assessment(claims.Comparison('s', 'a', 'b'), missing, verdict=verdict)

    r, c, i = welch.REPRODUCED, welch.CONTRADICTED, welch.INCONCLUSIVE
    assert claims.verdict([made(r), made(r)]) == r
    assert claims.verdict([made(r), made(c)]) == c
    assert claims.verdict([made(i), made(c)]) == c
    assert claims.verdict([made(r), made(i)]) == i
    assert claims.verdict([made(r), made(claims.NOT_RUN, ('x', 'y'))]) == 'not yet run (x, y)'


def _seeds(results, sweep, point, top1s, params=1000):
    """Writes `results/<sweep>/e10/<point>-s<i>/results.json` for each top-1 of `top1s`."""
    for seed, top1 in enumerate(top1s):
        directory = results / sweep / 'e10' / f'{point}-s{seed}'
        os.makedirs(directory)
        (directory / 'results.json').write_text(json.dumps({
            'block': point, 'params': params, 'macs': 10 * params, 'top1': top1,
            'train_images_per_sec': 100.0, 'wall_time_s': 1.0, 'config': {'seed': seed},
            'dataset': 'cifar10', 'train_steps': 20, 'global_batch': 8, 'epochs': 10.0,
            'devices': {'count': 1, 'kind': 'cpu'},
        }))  # fmt: skip


def _committed(results):
    # Claim 3 reproduced: linear 10 points above ReLU6, [+7.73, +12.27].
    _seeds(results, 'linear_bottleneck', 'inverted_residual', (0.70, 0.71, 0.72))
    _seeds(results, 'linear_bottleneck', 'inverted_residual-relu6', (0.60, 0.61, 0.62))
    # Claim 2 contradicted: none 10 points below ELU, past the 0.5 margin.
    _seeds(results, 'separable_act', 'separable', (0.50, 0.51, 0.52))
    _seeds(results, 'separable_act', 'separable-elu', (0.60, 0.61, 0.62))
    _seeds(results, 'separable_act', 'separable-relu', (0.40, 0.41, 0.42))
    # Claim 1 inconclusive: 0.5 points below plain3x3, the interval far wider than 1.1.
    _seeds(results, 'ladder', 'mobilenet_separable', (0.60, 0.65, 0.70), params=100)
    _seeds(results, 'ladder', 'plain3x3', (0.61, 0.655, 0.70))
    # Claim 5 inconclusive: one seed of inception has no interval.  Claim 7 reads separable
    # from separable_act's directory and factorized from the ladder's.
    _seeds(results, 'ladder', 'inception', (0.70,))
    _seeds(results, 'ladder', 'naive_inception', (0.72,), params=2000)
    _seeds(results, 'ladder', 'factorized', (0.40, 0.41, 0.42))


def _report(*flags):
    """`python -m experiments.report` with `flags`, from the repository root."""
    command = [sys.executable, '-m', 'experiments.report', *flags]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def _table_rows(table, first_cell):
    """The cells of the table rows whose first cell matches `first_cell` (a predicate)."""
    rows = [line.strip('| ').split(' | ') for line in table.splitlines() if line.startswith('| ')]
    return [r for r in rows if first_cell(r[0])]


def test_claims_table_from_committed_results(tmp_path):
    results = tmp_path / 'results'
    _committed(results)
    readme = tmp_path / 'README.md'
    readme.write_text(f'# Ablations\n\n{CLAIMS_BEGIN}\nold table\n{CLAIMS_END}\n\nafter\n')
    table = report.write_claims(str(readme), str(results), 'e10')
    text = readme.read_text()
    assert 'old table' not in text and text.endswith(f'{table}\n{CLAIMS_END}\n\nafter\n')
    verdicts = [r[-1] for r in _table_rows(table, lambda cell: '. ' in cell[:4])]
    assert verdicts == [
        'inconclusive', 'contradicted', 'reproduced', 'not yet run (single5x5)', 'inconclusive',
        'not yet run (spectrum-g4, spectrum-gC, spectrum-g16)', 'inconclusive',
        'not yet run (mobilenet_separable-w18, plain3x3-w7)',
        'not yet run (inverted_residual-w10, mobilenet_separable-w18)',
    ]  # fmt: skip
    comparisons = _table_rows(table, str.isdigit)
    assert comparisons[2] == [
        '2', 'separable-elu > separable-relu',
        'separable-elu: n 3, 61.00 sd 1.00 (1,000 params, 0.01M MACs)',
        'separable-relu: n 3, 41.00 sd 1.00 (1,000 params, 0.01M MACs)',
        '+20.00, 95% CI [+17.73, +22.27]', 'reproduced', '-',
    ]  # fmt: skip
    assert comparisons[1][4:6] == ['-10.00, 95% CI [-12.27, -7.73]', 'contradicted']
    one = comparisons[0]
    assert one[1] == 'mobilenet_separable keeps plain3x3 within 1.1: difference > -1.1'
    # 0.6 points from the -1.1 margin at a pooled sd of sqrt((5^2 + 4.5^2) / 2) = 4.757: the
    # normal approximation gives 2 (1.960 + 0.842)^2 (4.757 / 0.6)^2 = 987, the t one more.
    assert (one[5], one[6]) == ('inconclusive', '988')
    assert comparisons[4][4:6] == ['-29.00, no interval', 'inconclusive']  # 1 seed of inception
    assert comparisons[5][2:] == ['-', '-', '-', 'not yet run: single5x5', '-']
    assert comparisons[6][4:6] == ['-2.00, no interval', 'inconclusive']
    assert comparisons[9][2].startswith('separable: n 3, 51.00 sd 1.00')  # another sweep's
    assert comparisons[9][5] == 'reproduced'
    prose = ' '.join(table.split())  # the generated prose wraps at 100 columns
    assert 'half the 1-point margin; non-inferiority, since a superiority test at the ' in prose
    assert 'would need 2 seeds a side' in prose  # 10 points at sd 1: two seeds suffice
    assert "- 1.1 points (claim 1): the paper's own gap: Howard et al. 2017, Table 4" in prose
    assert '- 1 point (claims 4, 5): about the largest seed-to-seed sd' in prose
    assert 'median 1.00 points, smallest 1.00, largest 5.00' in prose
    assert max(len(line) for line in table.splitlines() if not line.startswith('|')) <= 100


def test_one_run_name_with_two_results_is_rejected(tmp_path):
    results = tmp_path / 'results'
    _seeds(results, 'ladder', 'separable', (0.50, 0.51))
    _seeds(results, 'separable_act', 'separable', (0.50, 0.52))
    with pytest.raises(ValueError, match="run 'separable-s1' differs between"):
        sweep_table.budget_rows(str(results), 'e10')


def test_a_run_filed_under_two_sweeps_counts_once(tmp_path):
    results = tmp_path / 'results'
    _seeds(results, 'ladder', 'separable', (0.50, 0.51))
    _seeds(results, 'separable_act', 'separable', (0.50, 0.51))
    assert sweep_table.budget_rows(str(results), 'e10')['separable'].top1 == (0.50, 0.51)


def test_readme_without_markers_is_one_line(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('no markers\n')
    with pytest.raises(ValueError, match='lacks the lines'):
        report.write_claims(str(readme), str(tmp_path), 'e10')
    with pytest.raises(ValueError, match='no file'):
        report.write_claims(str(tmp_path / 'absent.md'), str(tmp_path), 'e10')


def test_a_budget_without_results_is_refused_and_the_readme_kept(tmp_path):
    results = tmp_path / 'results'
    _committed(results)
    readme = tmp_path / 'README.md'
    before = f'{CLAIMS_BEGIN}\nthe committed table\n{CLAIMS_END}\n'
    readme.write_text(before)
    with pytest.raises(ValueError, match=r"no results at budget 'e99' .* one of: e10$"):
        report.write_claims(str(readme), str(results), 'e99')
    assert readme.read_text() == before


def test_a_sweep_reported_by_budget_gathers_the_points_other_sweeps_hold(tmp_path):
    """`report --sweep=factorization --budget=e10` reads plain3x3 from the ladder's directory and
    single5x5 from its own, and draws the two arms."""
    results = tmp_path / 'results'
    _seeds(results, 'ladder', 'plain3x3', (0.80, 0.81, 0.82))
    _seeds(results, 'ladder', 'separable', (0.70, 0.71, 0.72))  # not a factorization point
    _seeds(results, 'factorization', 'single5x5', (0.76, 0.77, 0.78), params=900)
    done = _report('--sweep=factorization', '--budget=e10', f'--results={results}')
    assert done.returncode == 0, done.stderr
    out = results / 'factorization' / 'e10'
    rows = [line.split(' | ')[:5] for line in (out / 'results.md').read_text().splitlines()]
    assert [r[:5] for r in rows if r[0] in ('| single5x5', '| plain3x3')] == [
        ['| single5x5', 'single5x5', '900', '9,000', '3'],
        ['| plain3x3', 'plain3x3', '1,000', '10,000', '3'],
    ]
    assert (out / 'top1_by_arm.png').exists() and not (
        results / 'ladder' / 'e10' / 'results.md'
    ).exists()
    absent = _report('--sweep=factorization', '--budget=e99', f'--results={results}')
    assert absent.returncode == 1
    assert absent.stderr.strip() == (
        f"error: no point of sweep 'factorization' committed at budget 'e99' in {results}/*/e99/; "
        'pass --budget= one of: e10'
    )
    # A sweep none of whose points is committed at any budget.
    with pytest.raises(ValueError, match=r'one of: none \(run and --collect the sweep first\)$'):
        report.sweep_runs(str(results), 'spectrum', 'e10')


def _two_files(tmp_path, summary_text):
    """Committed results, a README with the claims markers and a summary file."""
    results = tmp_path / 'results'
    _committed(results)
    readme, summary = tmp_path / 'README.md', tmp_path / 'TOP.md'
    readme.write_text(f'{CLAIMS_BEGIN}\nold\n{CLAIMS_END}\n')
    summary.write_text(summary_text)
    return results, readme, summary


def test_the_short_table_goes_to_the_summary_file_with_the_same_verdicts(tmp_path):
    marked = f'# top\n{SUMMARY_BEGIN}\nold\n{SUMMARY_END}\nafter\n'
    results, readme, summary = _two_files(tmp_path, marked)
    table = report.write_claims(str(readme), str(results), 'e10', str(summary))
    short = summary.read_text()
    assert short.startswith(f'# top\n{SUMMARY_BEGIN}\n| claim |') and short.endswith(
        f'{SUMMARY_END}\nafter\n'
    )
    full = [r[-1] for r in _table_rows(table, lambda cell: '. ' in cell[:4])]
    rows = _table_rows(short, lambda cell: '. ' in cell[:4])
    assert [r[1] for r in rows] == full
    assert rows[1][2] == (
        'separable within 0.5 of separable-elu: -10.00 [-12.27, -7.73] (n 3, 3); '
        'separable-elu > separable-relu: +20.00 [+17.73, +22.27] (n 3, 3)'
    )
    assert rows[3][2] == (  # single5x5 not yet run: the verdict names it
        'factorized within 1 of inception: -29.00, no interval (n 3, 1); '
        'plain3x3 within 1 of single5x5'
    )


def test_a_summary_file_without_markers_leaves_both_files_as_they_were(tmp_path):
    results, readme, summary = _two_files(tmp_path, 'no markers\n')
    with pytest.raises(ValueError, match='TOP.md lacks the lines'):
        report.write_claims(str(readme), str(results), 'e10', str(summary))
    assert readme.read_text() == f'{CLAIMS_BEGIN}\nold\n{CLAIMS_END}\n'


@pytest.mark.parametrize('read', [sweep_table.budget_rows, sweep_table.budget_runs])
def test_a_results_directory_that_is_not_there_is_one_line(tmp_path, read):
    with pytest.raises(ValueError, match=r'^no directory .*absent; pass --results='):
        read(str(tmp_path / 'absent'), 'e10')


@pytest.mark.parametrize('extra', ['--root=runs/cifar10', '--sweep=spectrum'])
def test_claims_with_a_root_or_sweep_is_one_line_and_writes_nothing(tmp_path, extra):
    # The claims read every sweep's committed results: a --root or --sweep would be ignored.
    readme = tmp_path / 'README.md'
    readme.write_text(f'{CLAIMS_BEGIN}\nold\n{CLAIMS_END}\n')
    done = _report('--claims', extra, f'--results={tmp_path}', f'--readme={readme}', '--summary=')
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f'error: --claims reads the committed results under --results ({tmp_path}), not --root '
        'or --sweep; leave those out'
    )
    assert readme.read_text() == f'{CLAIMS_BEGIN}\nold\n{CLAIMS_END}\n'
