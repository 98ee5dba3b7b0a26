"""The ladder rung as the benchmarks time it: the sweeps' widths, one block a stage, 32x32
images, batch 64, 10 classes (the train benchmark's ladder rows, the step profiles and A/Bs of
a rung, experiments/results/train_benchmark.md).
"""

from __future__ import annotations

from experiments.sweeping import sweeps

# The ladder rows: every rung at the sweeps' shape (experiments/sweeping/sweeps.py).
LADDER_MODEL = {'widths': list(sweeps.BASE_WIDTHS), 'depths': [1, 1, 1]}
LADDER_SIZE, LADDER_BATCH, LADDER_CLASSES = 32, 64, 10
