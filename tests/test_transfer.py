"""Every array accounted for when weights move into a lineage model (lineage.weights.transfer)."""

import numpy as np
import pytest
from flax import nnx

from lineage.blocks import ConvBN
from lineage.weights.transfer import Transfer, TransferError


def conv_source(kernel_shape=(3, 3, 2, 4), extra=False):
    source = {('conv', 'kernel'): np.ones(kernel_shape, np.float32)}
    for name in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
        source[('bn', name)] = np.full(4, 2.0, np.float32)
    if extra:
        source[('conv', 'bias')] = np.zeros(4, np.float32)
    return source


def fill(t):
    t.put(('kernel',), t.take('conv', 'kernel'), 'conv/kernel')
    for ours, theirs in (('scale', 'gamma'), ('bias', 'beta'), ('mean', 'moving_mean')):
        t.put(('norm', ours), t.take('bn', theirs), f'bn/{theirs}')


def test_transfer_fills_every_array():
    layer = ConvBN(2, 4, 3, rngs=nnx.Rngs(0))
    t = Transfer(conv_source(), layer)
    fill(t)
    t.put(('norm', 'var'), t.take('bn', 'moving_variance'), 'bn/moving_variance')
    t.finish(layer)
    assert np.all(layer.kernel[...] == 1) and np.all(layer.norm.var[...] == 2)


def test_unassigned_unused_and_mismatched_are_one_line_each():
    layer = ConvBN(2, 4, 3, rngs=nnx.Rngs(0))
    t = Transfer(conv_source(), layer)
    fill(t)  # the variance is never put
    with pytest.raises(TransferError, match=r'^1 lineage arrays left unassigned \(norm\.var\)'):
        t.finish(layer)
    t = Transfer(conv_source(extra=True), layer)
    fill(t)
    t.put(('norm', 'var'), t.take('bn', 'moving_variance'), 'bn/moving_variance')
    with pytest.raises(TransferError, match=r'^1 weights in the file left unused \(conv/bias\)'):
        t.finish(layer)
    t = Transfer(conv_source((3, 3, 2, 8)), layer)
    with pytest.raises(TransferError, match=r'shape mismatch: conv/kernel is \(3, 3, 2, 8\)'):
        fill(t)
