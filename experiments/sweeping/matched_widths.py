"""Ladder widths per rung at a matched parameter budget, for the `ladder_matched` and
`equal_params` sweeps.

Every rung keeps the ladder's shape (three stages, widths in ratio 1:2:4) and takes the
widths (sk, 2sk, 4sk) at a width step s (4 for `ladder_matched`, 1 for `equal_params`) whose
trainable parameter count (`lineage.counting.param_count` on an
`nnx.eval_shape` model: nothing is allocated) is nearest the budget. Parameters grow with k,
so a bisection finds the crossing and the nearer of its two sides wins.

    python -m experiments.sweeping.matched_widths                 # MATCHED_WIDTHS (75,290, step 4)
    python -m experiments.sweeping.matched_widths --budget=14090 --step=1     # EQUAL_WIDTHS
"""

from __future__ import annotations

import sys

from absl import app, flags
from flax import nnx

from lineage import counting
from lineage.models import build_model

STEP = 4  # widths are (STEP k, 2 STEP k, 4 STEP k)
MAX_K = 64


def ladder_params(block: str, widths: tuple[int, ...], in_channels: int = 3) -> int:
    """Trainable parameters of the 10-class ladder of `block` at `widths` (depth 1 a stage)."""
    model = nnx.eval_shape(
        lambda: build_model(
            'ladder',
            num_classes=10,
            rngs=nnx.Rngs(0),
            block=block,
            widths=widths,
            depths=(1,) * len(widths),
            in_channels=in_channels,
        )
    )
    return counting.param_count(model)


def matched_widths(block: str, budget: int, step: int = STEP) -> tuple[int, int, int]:
    """The widths (step k, 2 step k, 4 step k) whose parameter count is nearest `budget`.

    Args:
      block: a registered block name.
      budget: the target parameter count.
      step: the width step s.

    Returns:
      The stage widths.

    Raises:
      ValueError: the budget or step is not positive, or the budget is beyond k = MAX_K.
    """
    if budget < 1 or step < 1:
        raise ValueError(
            f'--budget={budget} --step={step}: give a positive parameter count and step'
        )

    def widths(k: int) -> tuple[int, int, int]:
        return (step * k, 2 * step * k, 4 * step * k)

    def params(k: int) -> int:
        return ladder_params(block, widths(k))

    lo, hi = 1, MAX_K
    if params(hi) < budget:
        raise ValueError(
            f'{block}: {budget:,} parameters need widths above {widths(MAX_K)}; '
            'give a smaller --budget or a larger --step'
        )
    while hi - lo > 1:  # invariant: params(lo) < budget <= params(hi), or lo == 1
        mid = (lo + hi) // 2
        if params(mid) < budget:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda k: abs(params(k) - budget))
    return widths(best)


def main(argv: list[str]) -> None:
    del argv
    from experiments.sweeping import sweeps

    budget = sweeps.MATCHED_BUDGET if FLAGS.budget is None else FLAGS.budget
    try:
        table = {rung: matched_widths(rung, budget, FLAGS.step) for rung in sweeps.RUNGS}
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(f'# widths nearest {budget:,} parameters, width step {FLAGS.step}')
    for rung, w in table.items():
        print(f"    '{rung}': {w},  # {ladder_params(rung, w):,} params")


if __name__ == '__main__':
    FLAGS = flags.FLAGS
    flags.DEFINE_integer('budget', None, 'Target parameters; default: sweeps.MATCHED_BUDGET.')
    flags.DEFINE_integer('step', STEP, 'Width step s: widths (s k, 2 s k, 4 s k).')
    app.run(main)
