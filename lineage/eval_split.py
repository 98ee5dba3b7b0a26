"""One pass over the eval split, each example counted once: top-1, top-5 and the mean loss.

The split's last batch is padded and masked (`Dataset.eval_batches`), so a split that the batch
does not divide is counted exactly; the sums are checked against the split's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from lineage import parallel, train_step
from lineage.run_builder import Run


def evaluate(
    run: Run, model_state: Any, dataset: Any, stop: Callable[[], bool] | None = None
) -> dict[str, float] | None:
    """Top-1 (and top-5) accuracy and mean loss over the whole eval split, each example once.

    Args:
      run: the run (its eval step, per-process batch and mesh).
      model_state: the model's part of the train state (`train_step.eval_part`).
      dataset: the `Dataset`.
      stop: polled before each batch (one process only); when it turns true the evaluation
        is abandoned and None returned, so a SIGTERM is not held up by a long eval split.
    """
    totals = train_step.eval_totals(dataset.num_classes, run.replicated)
    for local in dataset.eval_batches(run.plan.process_batch):
        if stop is not None and stop():
            return None
        totals = run.eval_step(model_state, parallel.global_batch(local, run.batch_sharded), totals)
    totals = {k: float(v) for k, v in jax.device_get(totals).items()}
    count = totals['count']
    if round(count) != dataset.num_eval:
        raise RuntimeError(f'eval saw {count:.0f} examples, the split has {dataset.num_eval}')
    result = {'top1': totals['correct'] / count, 'loss': totals['loss'] / count}
    result['correct'] = int(round(totals['correct']))
    if 'correct_top5' in totals:
        result['top5'] = totals['correct_top5'] / count
    return result
