"""Two arms compared over seeds: Welch's interval of the difference, its verdict, and the seeds
a side a decisive test would need.

A comparison reads Welch's 95% confidence interval of mean(A) - mean(B) over seeds (Welch 1947;
`scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)`): Student's t with the
Welch-Satterthwaite degrees of freedom, so the two arms may differ in spread. A two-sided 95%
interval tests each side at alpha 0.025:

  'higher'  A beats B: reproduced if the interval lies above 0, contradicted if below 0.
  'keeps'   A keeps B's accuracy within `margin` points (non-inferiority): reproduced if the
            interval's lower end is above -margin, contradicted if its upper end is below it.

Anything else is inconclusive, and so is an arm with fewer than 2 seeds (no interval). Whether
two per-arm intervals overlap is not the test: at 3 seeds a side that rule's alpha is near 0.003.

Where a comparison is inconclusive, `seeds_for_power` gives the seeds a side at which a
two-sample t test (equal arms, the pooled observed standard deviation, alpha 0.025 on the side
the observed difference lies) reaches 80% power at the observed distance from the boundary (0,
or -margin), from the noncentral t distribution (`scipy.stats.nct`), n = 2, 3, ... in turn.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from scipy import stats

REPRODUCED, CONTRADICTED, INCONCLUSIVE = 'reproduced', 'contradicted', 'inconclusive'
ALPHA_PER_SIDE = 0.025
POWER = 0.8
MAX_SEEDS = 1000  # seeds_for_power stops here: past it, no sweep on this machine could answer


@dataclasses.dataclass(frozen=True)
class Interval:
    """Welch's interval of mean(A) - mean(B): the difference, its ends, its degrees of freedom."""

    difference: float
    low: float
    high: float
    df: float


def welch(a: Sequence[float], b: Sequence[float]) -> Interval | None:
    """Welch's 95% interval of mean(a) - mean(b); None when either arm has fewer than 2 values."""
    if len(a) < 2 or len(b) < 2:
        return None
    result = stats.ttest_ind(a, b, equal_var=False)
    interval = result.confidence_interval(1 - 2 * ALPHA_PER_SIDE)
    difference = sum(a) / len(a) - sum(b) / len(b)
    return Interval(difference, float(interval.low), float(interval.high), float(result.df))


def boundary(kind: str, margin: float) -> float:
    """The value the interval is read against: 0 for 'higher', -margin for 'keeps'."""
    if kind not in ('higher', 'keeps'):
        raise ValueError(f"comparison kind {kind!r} is not 'higher' or 'keeps'")
    return -margin if kind == 'keeps' else 0.0


def decide(kind: str, margin: float, interval: Interval | None) -> str:
    """The verdict of one comparison ('higher', or 'keeps' within `margin`) from its interval."""
    edge = boundary(kind, margin)
    if interval is None:
        return INCONCLUSIVE
    if interval.low > edge:
        return REPRODUCED
    if interval.high < edge:
        return CONTRADICTED
    return INCONCLUSIVE


def pooled_sd(a: Sequence[float], b: Sequence[float]) -> float:
    """The two arms' pooled sample standard deviation (each arm needs 2 or more values)."""
    ss = sum((x - sum(a) / len(a)) ** 2 for x in a) + sum((x - sum(b) / len(b)) ** 2 for x in b)
    return math.sqrt(ss / (len(a) + len(b) - 2))


def power(effect: float, sd: float, n: int) -> float:
    """The power of a two-sample t test with `n` a side (alpha ALPHA_PER_SIDE on one side) when
    the true difference is `effect` away from the boundary and each arm's sd is `sd`."""
    df = 2 * n - 2
    noncentrality = abs(effect) / (sd * math.sqrt(2 / n))
    return float(stats.nct.sf(stats.t.ppf(1 - ALPHA_PER_SIDE, df), df, noncentrality))


def seeds_for_power(effect: float, sd: float) -> int | None:
    """The fewest seeds a side that reach POWER at `effect` (see the module docstring); None
    when no count up to MAX_SEEDS does (an effect of 0 never does)."""
    if sd == 0:
        return 2 if effect else None
    for n in range(2, MAX_SEEDS + 1):
        if power(effect, sd, n) >= POWER:
            return n
    return None
