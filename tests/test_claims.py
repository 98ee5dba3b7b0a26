"""The claims table on made-up committed results: a verdict of each kind, and 'not yet run'."""

import json
import os

import pytest

from experiments import claims, report
from experiments.report import CLAIMS_BEGIN, CLAIMS_END


def _seeds(results, sweep, point, top1s, params=1000):
    """Writes `results/<sweep>/e10/<point>-s<i>/results.json` for each top-1 of `top1s`."""
    for seed, top1 in enumerate(top1s):
        directory = results / sweep / 'e10' / f'{point}-s{seed}'
        os.makedirs(directory)
        (directory / 'results.json').write_text(json.dumps({
            'block': point, 'params': params, 'macs': 10 * params, 'top1': top1,
            'train_images_per_sec': 100.0, 'wall_time_s': 1.0, 'config': {'seed': seed},
        }))  # fmt: skip


def _row(point, top1s):
    return report.Row(point, point, 1000, 1, tuple(range(len(top1s))), tuple(top1s), None, 1.0)


def test_comparisons_read_the_confidence_intervals():
    # Means 0.70 and 0.60, std 0.01 with 3 seeds: CI half-width 4.303 * 0.01 / sqrt(3) = 0.0248.
    high, low = _row('a', (0.69, 0.70, 0.71)), _row('b', (0.59, 0.60, 0.61))
    higher = claims.Comparison('s', 'a', 'b')
    assert claims.compare(higher, high, low) == claims.REPRODUCED
    assert claims.compare(higher, low, high) == claims.CONTRADICTED
    near = _row('c', (0.66, 0.68, 0.70))  # CI 0.68 +- 0.0497: overlaps 0.70 +- 0.0248
    assert claims.compare(higher, high, near) == claims.INCONCLUSIVE
    assert claims.compare(higher, high, _row('d', (0.5,))) == claims.INCONCLUSIVE  # 1 seed
    # 'keeps' within 16 points: 0.60's interval shifted up by 0.16 (0.735-0.785) clears 0.70's
    # (0.675-0.725); within 4 points (0.615-0.665) it falls short of it entirely; within 10 the
    # two overlap.
    for margin, expected in ((16.0, claims.REPRODUCED), (4.0, claims.CONTRADICTED),
                             (10.0, claims.INCONCLUSIVE)):  # fmt: skip
        keeps = claims.Comparison('s', 'b', 'a', 'keeps', margin)
        assert claims.compare(keeps, low, high) == expected, margin


def test_claims_table_from_committed_results(tmp_path):
    results = tmp_path / 'results'
    # Claim 3 reproduced: linear well above ReLU6.
    _seeds(results, 'linear_bottleneck', 'inverted_residual', (0.70, 0.71, 0.72))
    _seeds(results, 'linear_bottleneck', 'inverted_residual-relu6', (0.60, 0.61, 0.62))
    # Claim 2 contradicted: ELU well above none.
    _seeds(results, 'separable_act', 'separable', (0.50, 0.51, 0.52))
    _seeds(results, 'separable_act', 'separable-elu', (0.60, 0.61, 0.62))
    _seeds(results, 'separable_act', 'separable-relu', (0.40, 0.41, 0.42))
    # Claim 1 inconclusive: MobileNet's layers 0.5 points below plain3x3, CIs too wide for a 1.1
    # margin.
    _seeds(results, 'ladder', 'mobilenet_separable', (0.60, 0.65, 0.70), params=100)
    _seeds(results, 'ladder', 'plain3x3', (0.61, 0.655, 0.70))
    # Claim 5 inconclusive: one seed a side has no interval.
    _seeds(results, 'ladder', 'inception', (0.70,))
    _seeds(results, 'ladder', 'naive_inception', (0.72,), params=2000)
    readme = tmp_path / 'README.md'
    readme.write_text(f'# Ablations\n\n{CLAIMS_BEGIN}\nold table\n{CLAIMS_END}\n\nafter\n')
    table = report.write_claims(str(readme), str(results), 'e10')
    text = readme.read_text()
    assert 'old table' not in text and text.endswith(f'{table}\n{CLAIMS_END}\n\nafter\n')
    rows = [line.split(' | ') for line in table.splitlines()[2:]]
    assert [r[-1].rstrip(' |') for r in rows] == [
        'inconclusive', 'contradicted', 'reproduced', 'not yet run', 'inconclusive',
        'not yet run', 'not yet run', 'not yet run', 'not yet run',
    ]  # fmt: skip
    assert rows[2][2] == (
        'inverted_residual 71.00 ± 2.48 (1,000 params, 0.01M MACs) vs '
        'inverted_residual-relu6 61.00 ± 2.48 (1,000 params, 0.01M MACs): +10.00 pt (claim > 0)'
    )
    assert rows[0][2].endswith(
        'plain3x3 65.50 ± 11.18 (1,000 params, 0.01M MACs): -0.50 pt (claim >= -1.1)'
    )
    assert (
        rows[3][2]
        == 'ladder: factorized not yet run; factorization: plain3x3, single5x5 not yet run'
    )
    assert rows[4][2] == (
        'inception 70.00 (1 seed, no CI; 1,000 params, 0.01M MACs) vs '
        'naive_inception 72.00 (1 seed, no CI; 2,000 params, 0.02M MACs): -2.00 pt (claim >= -1)'
    )
    assert '70.6% at 4.2M' in rows[0][1]


def test_readme_without_markers_is_one_line(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('no markers\n')
    with pytest.raises(ValueError, match='lacks the lines'):
        report.write_claims(str(readme), str(tmp_path), 'e10')
