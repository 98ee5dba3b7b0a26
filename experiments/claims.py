"""The lineage's published claims, checked against the committed sweep results.

Each claim is one or more comparisons between two points of a sweep (`Comparison`), each read
from 95% t confidence intervals over seeds (`report.Row.ci95`):

  'higher'  A beats B: reproduced when A's interval lies wholly above B's, contradicted when
            wholly below, inconclusive when they overlap.
  'keeps'   A keeps B's accuracy within `margin` points: reproduced when A's interval shifted
            up by the margin lies wholly above B's (even A's low end is within the margin),
            contradicted when it lies wholly below (even A's high end falls short by more),
            inconclusive when they overlap.

A point with one seed has no interval, so its comparisons are inconclusive. A claim is
reproduced when all its comparisons are, contradicted when any is, else inconclusive; a claim
whose points are not all in the committed results says "not yet run". The margins are the
paper's own gap where it gives one (Howard et al. 2017, Table 4: 71.7 - 70.6 = 1.1 points),
else 1 point, and are stated in the table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = (
    'reproduced', 'contradicted', 'inconclusive', 'not yet run',
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Point `a` against point `b` of `sweep`: 'higher' or 'keeps' (within `margin` points)."""

    sweep: str
    a: str
    b: str
    kind: str = 'higher'
    margin: float = 0.0


@dataclasses.dataclass(frozen=True)
class Claim:
    claim: str
    paper: str
    comparisons: tuple[Comparison, ...]


def _keeps(sweep, a, b, margin=1.0):
    return Comparison(sweep, a, b, 'keeps', margin)


CLAIMS = (
    Claim(
        'Depthwise separable convolution costs little accuracy for far fewer parameters',
        'Howard et al. 2017 (MobileNets), Table 4: 70.6% at 4.2M (separable) vs 71.7% at 29.3M '
        '(full convolution)',
        (_keeps('ladder', 'mobilenet_separable', 'plain3x3', 1.1),),
    ),
    Claim(
        'No activation between depthwise and pointwise is best, ReLU worst',
        'Chollet 2017 (Xception), Sec. 4.7, Fig. 10: none > ELU > ReLU in ImageNet accuracy over '
        'training',
        (
            _keeps('separable_act', 'separable', 'separable-elu', 0.5),
            Comparison('separable_act', 'separable-elu', 'separable-relu'),
        ),
    ),
    Claim(
        'A linear bottleneck beats ReLU6 in the projection',
        'Sandler et al. 2018 (MobileNetV2), Sec. 6.4, Fig. 6a: linear above ReLU6 in top-1 over '
        'training',
        (Comparison('linear_bottleneck', 'inverted_residual', 'inverted_residual-relu6'),),
    ),
    Claim(
        "Two 3x3 convs keep a 5x5's accuracy at 0.72 of its parameters",
        'Szegedy et al. 2016 (Inception v3), Sec. 3.1: "(9+9)/25 x reduction of computation, '
        'resulting in a relative gain of 28%"; Simonyan & Zisserman 2014 (VGG), Sec. 4.1: one '
        '5x5 for each pair of 3x3 "measured to be 7% higher" in top-1 error',
        (
            _keeps('ladder', 'factorized', 'inception'),
            _keeps('factorization', 'plain3x3', 'single5x5'),
        ),
    ),
    Claim(
        "The 1x1-reduced Inception keeps the naive multi-scale block's accuracy with fewer "
        'parameters and MACs',
        'Szegedy et al. 2014 (GoogLeNet), Sec. 4: the reductions make the module affordable, at '
        'no stated accuracy cost',
        (_keeps('ladder', 'inception', 'naive_inception'),),
    ),
    Claim(
        'Intermediate points of the Inception -> depthwise spectrum beat its depthwise end',
        'Chollet 2017 (Xception), Sec. 1.2, Fig. 4: the spectrum; Sec. 5 leaves open whether '
        '"intermediate points on the spectrum ... hold further advantages" (none measured)',
        (
            Comparison('spectrum', 'spectrum-g4', 'spectrum-gC'),
            Comparison('spectrum', 'spectrum-g16', 'spectrum-gC'),
        ),
    ),
    Claim(
        "Xception's unit beats the Inception module at equal parameters",
        'Chollet 2017 (Xception), Tables 1 and 3: 79.0% at 22,855,952 parameters vs Inception '
        'v3 78.2% at 23,626,728',
        (
            Comparison('equal_params', 'separable', 'factorized'),
            Comparison('equal_params', 'separable', 'inception'),
        ),
    ),
    Claim(
        "MobileNet's separable layers beat full convolutions at equal parameters",
        'Howard et al. 2017 (MobileNets), Table 4: 70.6% at 4.2M (separable) vs 71.7% at 29.3M '
        '(full convolution), so a full-conv net cut to 4.2M is the open side',
        (Comparison('equal_params', 'mobilenet_separable-w18', 'plain3x3-w7'),),
    ),
    Claim(
        "MobileNetV2's inverted residual beats MobileNet v1's separable layer at equal parameters",
        'Sandler et al. 2018 (MobileNetV2), Table 4: 72.0% at 3.4M vs MobileNetV1 70.6% at 4.2M',
        (Comparison('equal_params', 'inverted_residual-w10', 'mobilenet_separable-w18'),),
    ),
)


def compare(c: Comparison, a, b) -> str:
    """The verdict of one comparison between rows `a` and `b` (report.Row, top-1 in [0, 1])."""
    if a.ci95 is None or b.ci95 is None:
        return INCONCLUSIVE
    shift = c.margin / 100 if c.kind == 'keeps' else 0.0
    a_low, a_high = a.top1_mean - a.ci95 + shift, a.top1_mean + a.ci95 + shift
    b_low, b_high = b.top1_mean - b.ci95, b.top1_mean + b.ci95
    if a_low > b_high:
        return REPRODUCED
    if a_high < b_low:
        return CONTRADICTED
    return INCONCLUSIVE


def verdict(claim: Claim, rows: Mapping[tuple[str, str], object]) -> str:
    """The claim's verdict from `rows`: (sweep, point) -> report.Row."""
    pairs = [(rows.get((c.sweep, c.a)), rows.get((c.sweep, c.b))) for c in claim.comparisons]
    if any(a is None or b is None for a, b in pairs):
        return NOT_RUN
    verdicts = [compare(c, a, b) for c, (a, b) in zip(claim.comparisons, pairs, strict=True)]
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return INCONCLUSIVE


def _point_text(row) -> str:
    size = f'{row.params:,} params, {row.macs / 1e6:.2f}M MACs'
    if row.ci95 is None:
        return f'{row.point} {100 * row.top1_mean:.2f} (1 seed, no CI; {size})'
    return f'{row.point} {100 * row.top1_mean:.2f} ± {100 * row.ci95:.2f} ({size})'


def result_text(claim: Claim, rows: Mapping[tuple[str, str], object]) -> str:
    """'our result' cell: each comparison's two points (mean ± 95% CI half-width), the measured
    difference of their means, and the difference the claim predicts (> 0, or >= -margin)."""
    parts = []
    for c in claim.comparisons:
        a, b = rows.get((c.sweep, c.a)), rows.get((c.sweep, c.b))
        if a is None or b is None:
            missing = [p for p, r in ((c.a, a), (c.b, b)) if r is None]
            parts.append(f'{c.sweep}: {", ".join(missing)} not yet run')
            continue
        predicted = '> 0' if c.kind == 'higher' else f'>= -{c.margin:g}'
        difference = 100 * (a.top1_mean - b.top1_mean)
        parts.append(
            f'{_point_text(a)} vs {_point_text(b)}: {difference:+.2f} pt (claim {predicted})'
        )
    return '; '.join(parts)


def claims_table(rows: Mapping[tuple[str, str], object]) -> list[list[str]]:
    """One row per CLAIMS entry: claim | paper | our result | verdict."""
    return [
        [f'{i}. {c.claim}', c.paper, result_text(c, rows), verdict(c, rows)]
        for i, c in enumerate(CLAIMS, 1)
    ]


def sweeps_needed(claims: Sequence[Claim] = CLAIMS) -> list[str]:
    """The sweeps the claims read, in order of first use."""
    return list(dict.fromkeys(c.sweep for claim in claims for c in claim.comparisons))
