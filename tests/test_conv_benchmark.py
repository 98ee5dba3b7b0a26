"""The conv benchmark's table cells and its PyTorch peer row (torch not needed)."""

from __future__ import annotations

import sys

import numpy as np

from experiments.bench import conv_benchmark
from experiments.bench.timing import timing_cells


def test_timing_cells():
    times = np.array([[100.0, 190.0], [120.0, 210.0], [80.0, 170.0]])  # wall, CPU ms
    # median 100 ms; 6e9 flops in 0.1 s is 60 GFLOP/s.
    assert timing_cells(times, 6e9, 1.25) == '100 | 80-120 | 190 | 60.0 | 1.2'
    assert timing_cells(times, 6e9, None) == '100 | 80-120 | 190 | 60.0 | -'


def test_torch_row_is_measured_or_a_note_never_a_number():
    times, why = conv_benchmark.torch_times(sys.executable, 'dense', 1, (2, 8, 4), 2, 1)
    try:
        import torch  # noqa: F401
    except ImportError:  # the test venv has no torch: the worker fails, and says why
        assert times is None
        assert why.startswith('exit 1, no result') and 'torch' in why
    else:
        assert why is None and times.shape == (1, 2) and (times > 0).all()
