"""The ablation sweeps as plain Python: each is a list of points, a point a config plus overrides.

Sweeps (each has a CIFAR-10 form on configs/ladder_cifar10.py and a quick `_digits` form on
configs/ladder_digits.py that runs on 2 CPU cores in minutes); seeds per point as below unless
`--seeds` overrides:

  ladder             one rung per lineage step, same widths (16, 32, 64): plain3x3 (the
                     baseline), plain5x5, naive_inception, inception, factorized, bottleneck,
                     separable (Xception's unit), mobilenet_separable (plain3x3 with MobileNet
                     v1's separable layers), inverted_residual. Seeds 0, 1, 2.
  separable_act      the Xception paper's Fig. 10: the activation between the depthwise and the
                     pointwise conv of the 'separable' rung: none, relu, elu. Seeds 0, 1, 2.
  linear_bottleneck  MobileNetV2's Fig. 6a: the inverted residual with a linear projection vs
                     a ReLU6 one. Seeds 0, 1, 2.
  factorization      the factorization itself: `single5x5` (one 5x5 conv a block) against the
                     ladder's `plain3x3` (two 3x3) at the same widths (Simonyan & Zisserman
                     2014, Sec. 4.1; Szegedy et al. 2016, Sec. 3.1). Seeds 0, 1, 2.
  spectrum           the Xception paper's Inception -> Xception dial (Chollet 2017, Sec. 1.2):
                     the 'spectrum' block with segments g = 1, 4, 16 and C (depthwise). Seeds 0,
                     1, 2.
  equal_params       the rungs at EQUAL parameters: EQUAL_BUDGET (separable's 14,090 at widths
                     16/32/64); a rung within 10% of it at those widths is the ladder's point,
                     the others take EQUAL_WIDTHS. Seeds 0, 1, 2.
  ladder_matched     the rungs, widths scaled per rung to a matched parameter budget: the
                     baseline's MATCHED_BUDGET parameters (see MATCHED_WIDTHS). Seed 0.
  curve              the learning curve that picks the sweeps' budget: plain3x3 and separable,
                     seed 0, each a full schedule of CURVE_EPOCHS epochs, shortest first.

  ablations          all of the above but the curve (PLAN), each shared point once.
  claims             only the points experiments/reporting/claims.py compares, claim by claim, each
                     claim's seed 0 points before its seed 1 ones: the order in which a slow
                     machine decides the claims soonest.

    python -m experiments.run_sweep --sweep=ladder_digits

A point's name is its workdir under the sweep's root, e.g. `separable-s1`. Points shared
between sweeps have one name and so one workdir, and run once: separable_act's 'none' is the
ladder's `separable` (mid_act none is the block's default) and linear_bottleneck's linear point
is the ladder's `inverted_residual`. `with_budget` sets a sweep-wide budget (epochs, each a full
schedule) whose tag (`budget_tag`, e.g. `e10`) names the directory the points' workdirs sit in,
so different budgets never share a workdir.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from experiments.reporting import claims

CIFAR_CONFIG = 'configs/ladder_cifar10.py'
DIGITS_CONFIG = 'configs/ladder_digits.py'

RUNGS = (
    'plain3x3',
    'plain5x5',
    'naive_inception',
    'inception',
    'factorized',
    'bottleneck',
    'separable',
    'mobilenet_separable',
    'inverted_residual',
)
BASELINE = 'plain3x3'
DEFAULT_SEEDS = (0, 1, 2)
# One seed where the sweep is a cross-check (the 75k matched ladder).
MATCHED_SEEDS = (0,)
BASE_WIDTHS = (16, 32, 64)
# Segment counts of the spectrum sweep; None is g = C (one segment per channel, depthwise).
SEGMENTS = (1, 4, 16, None)
MID_ACTS = ('none', 'relu', 'elu')
# Budgets (epochs, each a full warmup + cosine schedule) and rungs of the learning curve.
CURVE_EPOCHS = (5, 10, 20, 40)
CURVE_RUNGS = ('plain3x3', 'separable')

# Parameters of the baseline (plain3x3, widths 16/32/64, 3 input channels, 10 classes): the
# budget every rung of ladder_matched is scaled to.
MATCHED_BUDGET = 75_290
# Widths (4k, 8k, 16k) with the parameter count nearest MATCHED_BUDGET, printed by
# `python -m experiments.sweeping.matched_widths` (tests/test_sweeps.py checks some of them).
MATCHED_WIDTHS = {
    'plain3x3': (16, 32, 64),  # 75,290 params
    'plain5x5': (8, 16, 32),  # 51,986 params (k=3 gives 116,378: farther)
    'naive_inception': (36, 72, 144),  # 75,430 params
    'inception': (40, 80, 160),  # 81,054 params
    'factorized': (40, 80, 160),  # 78,089 params
    'bottleneck': (48, 96, 192),  # 73,594 params
    'separable': (40, 80, 160),  # 75,530 params
    'mobilenet_separable': (44, 88, 176),  # 71,554 params
    'inverted_residual': (24, 48, 96),  # 68,242 params
}

# The budget of the equal-parameter ladder: `separable` (Xception's unit) at BASE_WIDTHS. Rungs
# within EQUAL_TOLERANCE of it at BASE_WIDTHS keep those widths (and so share the ladder's
# points); the others take the widths (k, 2k, 4k) nearest it, printed by
# `python -m experiments.sweeping.matched_widths --budget=14090 --step=1`.
EQUAL_BUDGET = 14_090
EQUAL_TOLERANCE = 0.10
EQUAL_WIDTHS = {
    'plain3x3': (7, 14, 28),  # 14,801 params
    'plain5x5': (4, 8, 16),  # 13,198 params
    'bottleneck': (20, 40, 80),  # 13,975 params
    'mobilenet_separable': (18, 36, 72),  # 14,302 params
    'inverted_residual': (10, 20, 40),  # 14,160 params
}  # naive_inception 15,354, inception 13,846, factorized 13,377, separable 14,090 at 16/32/64

# A point's name ends in its seed, `-s<seed>`; without it, the name of the row its seeds share.
SEED_SUFFIX = re.compile(r'-s(\d+)$')


def without_seed(name: str) -> str:
    """`separable-relu-s2` -> `separable-relu`: the point its seeds are averaged into."""
    return SEED_SUFFIX.sub('', name)


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of a sweep.

    Attributes:
      name: the run's directory name under the sweep root.
      config: the base config file, with a `:options` suffix declaring block options.
      overrides: config field (dotted, without `config.`) -> value.
    """

    name: str
    config: str
    overrides: dict[str, Any]

    def args(self) -> list[str]:
        """The `lineage.main` flags of this point, without `--workdir`."""
        flags = [f'--config={self.config}']
        for key, value in self.overrides.items():
            flags.append(f'--config.{key}={_flag_value(value)}')
        return flags


def _flag_value(value: Any) -> str:
    """A value as config_flags parses it: tuples as '(a, b)', the rest with str()."""
    if isinstance(value, tuple):
        return '(' + ', '.join(str(v) for v in value) + ')'
    return str(value)


def _point(
    config: str,
    block: str,
    seed: int,
    tag: str = '',
    options: dict[str, Any] | None = None,
    **overrides: Any,
) -> Point:
    options = {k: v for k, v in (options or {}).items() if v is not None}
    declared = ','.join(sorted(options))
    fields = {'model.block': block, 'seed': seed, **overrides}
    fields.update({f'model.block_options.{k}': v for k, v in options.items()})
    return Point(
        name=f'{block}{tag}-s{seed}',
        config=f'{config}:{declared}' if declared else config,
        overrides=fields,
    )


def ladder(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """Every rung at the same widths."""
    return [_point(config, b, s) for b in RUNGS for s in seeds or DEFAULT_SEEDS]


def ladder_matched(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """Every rung at its MATCHED_WIDTHS (parameters near MATCHED_BUDGET)."""
    points = []
    for block in RUNGS:
        widths = MATCHED_WIDTHS[block]
        for seed in seeds or MATCHED_SEEDS:
            points.append(_point(config, block, seed, f'-w{widths[0]}', **{'model.widths': widths}))
    return points


def equal_params(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """Every rung at EQUAL_BUDGET parameters: its EQUAL_WIDTHS, else the ladder's point."""
    points = []
    for block in RUNGS:
        for seed in seeds or DEFAULT_SEEDS:
            widths = EQUAL_WIDTHS.get(block)
            if widths is None:
                points.append(_point(config, block, seed))
            else:
                tag = f'-w{widths[0]}'
                points.append(_point(config, block, seed, tag, **{'model.widths': widths}))
    return points


def factorization(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """One 5x5 conv a block (`single5x5`) against the ladder's two 3x3 (`plain3x3`)."""
    return [_point(config, b, s) for s in seeds or DEFAULT_SEEDS for b in ('single5x5', BASELINE)]


def spectrum(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """The 'spectrum' block at each of SEGMENTS."""
    return [
        _point(config, 'spectrum', s, f'-g{g or "C"}', {'segments': g})
        for g in SEGMENTS
        for s in seeds or DEFAULT_SEEDS
    ]


def separable_act(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """The 'separable' block with each of MID_ACTS between depthwise and pointwise; 'none' is
    the block's default, so that point is the ladder's `separable`."""
    return [
        _point(config, 'separable', s)
        if act == 'none'
        else _point(config, 'separable', s, f'-{act}', {'mid_act': act})
        for act in MID_ACTS
        for s in seeds or DEFAULT_SEEDS
    ]


def linear_bottleneck(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """The inverted residual with its linear projection (the block's default, so the ladder's
    `inverted_residual` point) and with a ReLU6 one (Sandler et al. 2018, Fig. 6a)."""
    return [
        point
        for s in seeds or DEFAULT_SEEDS
        for point in (
            _point(config, 'inverted_residual', s),
            _point(config, 'inverted_residual', s, '-relu6', {'linear_bottleneck': False}),
        )
    ]


def curve(config: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """CURVE_RUNGS at each of CURVE_EPOCHS (by epochs, not steps), shortest budget first."""
    return [
        _point(config, b, s, f'-e{e}', num_train_steps=-1, num_epochs=float(e))
        for e in CURVE_EPOCHS
        for b in CURVE_RUNGS
        for s in (seeds or (0,))
    ]


_KINDS: dict[str, Callable[..., list[Point]]] = {
    'ladder': ladder,
    'separable_act': separable_act,
    'linear_bottleneck': linear_bottleneck,
    'spectrum': spectrum,
    'factorization': factorization,
    'equal_params': equal_params,
    'ladder_matched': ladder_matched,
    'curve': curve,
}
# Sweeps whose points carry their own budget: a sweep-wide one would contradict them.
OWN_BUDGET = ('curve', 'curve_digits')
# The whole ablation plan, in the order that serves the claims first; `ablations` runs them as
# one sweep, each shared point once.
PLAN = (
    'ladder',
    'separable_act',
    'linear_bottleneck',
    'factorization',
    'equal_params',
    'spectrum',
    'ladder_matched',
)
# Sweeps made of other sweeps' points, each shared point once: name -> its member sweeps.
COMPOSITES = {'ablations': PLAN, 'claims': tuple(claims.sweeps_needed())}
SWEEPS = {
    **{kind: (fn, CIFAR_CONFIG) for kind, fn in _KINDS.items()},
    **{f'{kind}_digits': (fn, DIGITS_CONFIG) for kind, fn in _KINDS.items()},
}


def sweep_points(name: str, seeds: Sequence[int] | None = None) -> list[Point]:
    """The points of sweep `name`.

    Args:
      name: a key of SWEEPS or COMPOSITES, the latter with or without `_digits`.
      seeds: seeds for every point; None: the sweep's own (see the module docstring).

    Returns:
      The points, in run order.

    Raises:
      ValueError: an unknown sweep name.
    """
    composite, suffix = _form(name)
    if composite in COMPOSITES:
        pool = _unique(sweep_points(member + suffix, seeds) for member in COMPOSITES[composite])
        if composite == 'claims':
            return _unique(_compared(claim, pool) for claim in claims.CLAIMS)
        return pool
    if name not in SWEEPS:
        choices = ', '.join(sorted([*SWEEPS, *COMPOSITES, *(f'{c}_digits' for c in COMPOSITES)]))
        raise ValueError(f'unknown sweep {name!r}; choose from {choices}')
    fn, config = SWEEPS[name]
    return fn(config, seeds)


def _form(name: str) -> tuple[str, str]:
    """'claims_digits' -> ('claims', '_digits'); 'ladder' -> ('ladder', '')."""
    base = name.removesuffix('_digits')
    return base, name[len(base) :]


def _compared(claim: claims.Claim, pool: Sequence[Point]) -> list[Point]:
    """The points of `pool` that `claim` compares, seed by seed, in the order it names them."""
    names = [name for c in claim.comparisons for name in (c.a, c.b)]
    points = [p for name in names for p in pool if without_seed(p.name) == name]
    return sorted(points, key=lambda p: p.overrides['seed'])  # stable: names stay in order


def _unique(groups: Iterable[Sequence[Point]]) -> list[Point]:
    """The groups' points in order, each name once (a shared point runs once)."""
    unique: dict[str, Point] = {}
    for group in groups:
        for point in group:
            unique.setdefault(point.name, point)
    return list(unique.values())


def members(name: str) -> tuple[str, ...]:
    """The sweeps a name stands for: a composite's members (in its form), else the name itself."""
    composite, suffix = _form(name)
    if composite in COMPOSITES:
        return tuple(m + suffix for m in COMPOSITES[composite])
    return (name,)


def same_data_set(name: str) -> tuple[str, ...]:
    """Every sweep on `name`'s data set: a point's name is its run in all of them (a shared point
    has one name), so a point committed under any of them is finished for `name` too."""
    digits = name.endswith('_digits')
    return tuple(s for s in SWEEPS if s.endswith('_digits') == digits)


def budget_tag(epochs: float | None) -> str:
    """The directory name of a sweep-wide budget: 'e10' for 10 epochs, '' for the config's own."""
    return f'e{epochs:g}' if epochs else ''


def with_budget(name: str, points: Sequence[Point], epochs: float | None) -> list[Point]:
    """`points` trained for `epochs` epochs each (a full warmup + cosine schedule); None keeps
    the config's budget.

    Raises:
      ValueError: a non-positive budget, or a budget for a sweep whose points carry their own.
    """
    if epochs is None:
        return list(points)
    if epochs <= 0:
        raise ValueError(f'--epochs must be > 0, got {epochs:g}')
    if name in OWN_BUDGET:
        raise ValueError(f"sweep {name!r} sets each point's epochs itself; drop --epochs")
    budget = {'num_train_steps': -1, 'num_epochs': float(epochs)}
    return [dataclasses.replace(p, overrides={**p.overrides, **budget}) for p in points]


def default_root(name: str) -> str:
    """Where sweep `name` runs by default: one root per data set, so shared points run once."""
    return os.path.join('runs', 'digits' if name.endswith('_digits') else 'cifar10')
