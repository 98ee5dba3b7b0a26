"""The lineage's published claims, checked against the committed sweep results.

Each claim is one or more comparisons of two points (`Comparison`), each read from Welch's 95%
interval of the difference of their mean top-1 over seeds, with the rule of
`experiments.reporting.welch`: 'higher' (A beats B) against 0, 'keeps' (A keeps B's accuracy within
`margin` points, non-inferiority) against -margin. A claim is reproduced when all its comparisons
are, contradicted when any is, else inconclusive; a claim with a point not in the committed results
says "not yet run" and names the point. Each margin is fixed before the data and carries its reason
(`Comparison.why`), printed above the table.

A point is found by its name alone: the same name in two sweeps is the same run (the runner
shares it), so the `sweep` of a comparison says which sweep runs the point, not where its
results must sit (`sweep_table.budget_rows`).
"""

from __future__ import annotations

import dataclasses
import statistics
import textwrap
from collections.abc import Mapping, Sequence

from experiments.reporting import markdown as md
from experiments.reporting import welch

NOT_RUN = 'not yet run'

PAPER_GAP = "the paper's own gap: Howard et al. 2017, Table 4, 71.7 - 70.6 = 1.1 points"
NONE_VS_ELU = (
    "Fig. 10 puts none above ELU, so 'none is best' allows at most a small loss: half the "
    '1-point margin; non-inferiority, since a superiority test at the observed difference and '
    'spread would need {superiority} seeds a side'
)
ONE_POINT = (
    'about the largest seed-to-seed sd of a committed point (below), so a loss within it is one '
    'that reseeding alone makes, and the smallest difference a reader would act on'
)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Point `a` against point `b` (run by `sweep`): 'higher', or 'keeps' within `margin`
    points for the reason `why`."""

    sweep: str
    a: str
    b: str
    kind: str = 'higher'
    margin: float = 0.0
    why: str = ''


@dataclasses.dataclass(frozen=True)
class Claim:
    claim: str
    paper: str
    comparisons: tuple[Comparison, ...]


def _keeps(sweep, a, b, margin=1.0, why=ONE_POINT):
    return Comparison(sweep, a, b, 'keeps', margin, why)


CLAIMS = (
    Claim(
        'Depthwise separable convolution costs little accuracy for far fewer parameters',
        'Howard et al. 2017 (MobileNets), Table 4: 70.6% at 4.2M (separable) vs 71.7% at 29.3M '
        '(full convolution)',
        (_keeps('ladder', 'mobilenet_separable', 'plain3x3', 1.1, PAPER_GAP),),
    ),
    Claim(
        'No activation between depthwise and pointwise is best, ReLU worst',
        'Chollet 2017 (Xception), Sec. 4.7, Fig. 10: none > ELU > ReLU in ImageNet accuracy over '
        'training',
        (
            _keeps('separable_act', 'separable', 'separable-elu', 0.5, NONE_VS_ELU),
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


@dataclasses.dataclass(frozen=True)
class Assessment:
    """One comparison on the committed results: the points it lacks, else its arms' top-1 in
    percent per seed, Welch's interval (None under 2 seeds a side) and the verdict."""

    comparison: Comparison
    missing: tuple[str, ...] = ()
    a: tuple[float, ...] = ()
    b: tuple[float, ...] = ()
    interval: welch.Interval | None = None
    verdict: str = NOT_RUN

    def seeds_for_power(self) -> int | None:
        """Seeds a side for 80% power at the observed distance from the boundary (welch)."""
        c = self.comparison
        effect = self.interval.difference - welch.boundary(c.kind, c.margin)
        return welch.seeds_for_power(effect, welch.pooled_sd(self.a, self.b))


def assess(c: Comparison, rows: Mapping[str, object]) -> Assessment:
    """`c` on `rows` (point name -> sweep_table.Row, top-1 in [0, 1])."""
    missing = tuple(p for p in (c.a, c.b) if p not in rows)
    if missing:
        return Assessment(c, missing)
    a, b = (tuple(100 * t for t in rows[p].top1) for p in (c.a, c.b))
    interval = welch.welch(a, b)
    return Assessment(c, (), a, b, interval, welch.decide(c.kind, c.margin, interval))


def verdict(assessments: Sequence[Assessment]) -> str:
    """A claim's verdict from its comparisons' (see the module docstring)."""
    verdicts = [x.verdict for x in assessments]
    if NOT_RUN in verdicts:
        missing = dict.fromkeys(p for x in assessments for p in x.missing)
        return f'{NOT_RUN} ({", ".join(missing)})'
    if all(v == welch.REPRODUCED for v in verdicts):
        return welch.REPRODUCED
    return welch.CONTRADICTED if welch.CONTRADICTED in verdicts else welch.INCONCLUSIVE


def _test_text(c: Comparison) -> str:
    if c.kind == 'higher':
        return f'{c.a} > {c.b}'
    return f'{c.a} keeps {c.b} within {c.margin:g}: difference > -{c.margin:g}'


def _arm_text(point: str, row) -> str:
    """The arm's seeds, mean and sd as the sweep tables compute them (`sweep_table.Row`), so
    that a mean on a rounding tie reads the same in both."""
    size = f'{row.params:,} params, {row.macs / 1e6:.2f}M MACs'
    n = len(row.top1)
    if n < 2:
        return f'{point}: n 1, {100 * row.top1[0]:.2f} ({size})'
    return f'{point}: n {n}, {100 * row.top1_mean:.2f} sd {100 * row.top1_std:.2f} ({size})'


def _comparison_cells(i: int, x: Assessment, rows: Mapping[str, object]) -> list[str]:
    c = x.comparison
    if x.missing:
        return [str(i), _test_text(c), '-', '-', '-', f'{NOT_RUN}: {", ".join(x.missing)}', '-']
    arms = [_arm_text(p, rows[p]) for p in (c.a, c.b)]
    if x.interval is None:
        difference = f'{statistics.fmean(x.a) - statistics.fmean(x.b):+.2f}, no interval'
    else:
        iv = x.interval
        difference = f'{iv.difference:+.2f}, 95% CI [{iv.low:+.2f}, {iv.high:+.2f}]'
    seeds = '-'
    if x.verdict == welch.INCONCLUSIVE and x.interval is not None:
        n = x.seeds_for_power()
        seeds = f'> {welch.MAX_SEEDS}' if n is None else str(n)
    return [str(i), _test_text(c), *arms, difference, x.verdict, seeds]


def _margin_lines(assessed: Sequence[tuple[int, Assessment]]) -> list[str]:
    """One bullet per margin: the claims that use it and why."""
    by_margin: dict[tuple[float, str], list[tuple[int, Assessment]]] = {}
    for i, x in assessed:
        if x.comparison.kind == 'keeps':
            by_margin.setdefault((x.comparison.margin, x.comparison.why), []).append((i, x))
    lines = []
    for (margin, why), users in by_margin.items():
        superiority = 'more'
        if users[0][1].interval is not None:
            x = users[0][1]
            n = welch.seeds_for_power(x.interval.difference, welch.pooled_sd(x.a, x.b))
            superiority = f'more than {welch.MAX_SEEDS}' if n is None else str(n)
        numbers = ', '.join(dict.fromkeys(str(i) for i, _ in users))
        claims = 'claim' if len(users) == 1 else 'claims'
        text = why.format(superiority=superiority)
        lines.append(
            f'- {margin:g} point{"" if margin == 1 else "s"} ({claims} {numbers}): {text}.'
        )
    return lines


def _spread_line(rows: Mapping[str, object]) -> str:
    sds = sorted(100 * r.top1_std for r in rows.values() if r.top1_std is not None)
    if not sds:
        return 'No committed point has 2 seeds yet.'
    return (
        f'Seed-to-seed sd of the {len(sds)} committed points with 2 or more seeds: median '
        f'{statistics.median(sds):.2f} points, smallest {sds[0]:.2f}, largest {sds[-1]:.2f}.'
    )


WIDTH = 100  # the docs' column limit for the generated prose (tables stay one line a row)

RULE = (
    "Each comparison reads Welch's 95% confidence interval of mean(A) - mean(B) over seeds "
    '(top-1 in points; t with the Welch-Satterthwaite degrees of freedom; alpha 0.025 a side). '
    '"A > B": reproduced if the interval lies above 0, contradicted if below 0. "A keeps B '
    'within m" (non-inferiority): reproduced if its lower end is above -m, contradicted if its '
    'upper end is below -m. Otherwise, or with fewer than 2 seeds a side, inconclusive. A claim '
    'is reproduced when all its comparisons are, contradicted when any is. Where inconclusive, '
    '"seeds a side for 80% power" is the fewest at which a two-sample t test (the pooled '
    'observed sd, alpha 0.025 on one side; noncentral t, `scipy.stats.nct`) reaches 80% power at '
    'the observed distance from 0 (or -m). Margins, fixed before the data:'
)


def _assessed(rows: Mapping[str, object]) -> list[tuple[int, Assessment]]:
    """Every comparison of every claim on `rows`, with its claim's number."""
    return [(i, assess(c, rows)) for i, claim in enumerate(CLAIMS, 1)
            for c in claim.comparisons]  # fmt: skip


def _short_text(x: Assessment) -> str:
    """A comparison in one short cell: the test, A - B with its interval, the seeds a side."""
    c = x.comparison
    test = f'{c.a} > {c.b}' if c.kind == 'higher' else f'{c.a} within {c.margin:g} of {c.b}'
    if x.missing:  # the claim's verdict names the points
        return test
    seeds = f'n {len(x.a)}, {len(x.b)}'
    if x.interval is None:
        return (
            f'{test}: {statistics.fmean(x.a) - statistics.fmean(x.b):+.2f}, no interval ({seeds})'
        )
    iv = x.interval
    return f'{test}: {iv.difference:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}] ({seeds})'


def summary_markdown(rows: Mapping[str, object], budget: str) -> str:
    """The claims table in short, for the top README: each claim, its verdict and its
    comparisons' differences with Welch's 95% interval (the full table: `markdown`)."""
    assessed = _assessed(rows)
    lines = md.header(['claim', f'verdict ({budget})', 'A - B in top-1 points, 95% CI (seeds)'])
    for i, claim in enumerate(CLAIMS, 1):
        mine = [x for j, x in assessed if j == i]
        cells = [f'{i}. {claim.claim}', verdict(mine), '; '.join(map(_short_text, mine))]
        lines.append(md.row(cells))
    return '\n'.join(lines)


def markdown(rows: Mapping[str, object], budget: str) -> str:
    """The rule, the margins and the two tables (claims; comparisons) from `rows` (point name
    -> sweep_table.Row)."""
    assessed = _assessed(rows)
    prose = [textwrap.fill(RULE, WIDTH), '']
    prose += [textwrap.fill(m, WIDTH, subsequent_indent='  ') for m in _margin_lines(assessed)]
    lines = [*prose, '', textwrap.fill(_spread_line(rows), WIDTH), '']
    lines += md.header(['claim', 'paper, figure/table and its numbers', f'verdict ({budget})'])
    for i, claim in enumerate(CLAIMS, 1):
        mine = [x for j, x in assessed if j == i]
        lines.append(md.row([f'{i}. {claim.claim}', claim.paper, verdict(mine)]))
    arm = 'n, top-1 % mean, sd (params, MACs)'
    lines += ['', *md.header([
        'claim', 'comparison', f'A: {arm}', f'B: {arm}', 'A - B (points), 95% CI', 'verdict',
        'seeds a side for 80% power',
    ])]  # fmt: skip
    lines += [md.row(_comparison_cells(i, x, rows)) for i, x in assessed]
    return '\n'.join(lines)


def sweeps_needed(claims: Sequence[Claim] = CLAIMS) -> list[str]:
    """The sweeps the claims read, in order of first use."""
    return list(dict.fromkeys(c.sweep for claim in claims for c in claim.comparisons))
