"""An exponential moving average of the parameters, evaluated in their place.

Inception v3 (Szegedy et al. 2015, Sec. 8) evaluates "using a running average of the
parameters"; TF-slim's recipes keep one with decay 0.9999 (`tf.train.ExponentialMovingAverage`
with `num_updates`). After the `t`-th optimizer update (t = 0, 1, ...):

    decay_t = min(decay, (1 + t) / (10 + t))
    average = decay_t * average + (1 - decay_t) * parameter

so early averages are not dominated by the random initialization. The average lives in the
train state as a copy of the model (`Shadow`), saved and restored with it; its BatchNorm
statistics are the model's own, copied at every step (TF-slim restores the moving statistics
unaveraged).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def decay_at(decay: float, step: jax.Array) -> jax.Array:
    """TensorFlow's `num_updates` form: `min(decay, (1 + step) / (10 + step))`."""
    step = jnp.asarray(step, jnp.float32)
    return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def update(shadow: nnx.Module, model: nnx.Module, decay: float, step: jax.Array) -> None:
    """Moves `shadow`'s parameters towards `model`'s; copies its BatchNorm statistics.

    Args:
      shadow: the average, a module of the model's structure.
      model: the model just updated.
      decay: the configured decay (`config.ema_decay`).
      step: updates made before this one.
    """
    d = decay_at(decay, step)
    average = jax.tree.map(
        lambda a, p: (d * a + (1 - d) * p).astype(a.dtype),
        nnx.state(shadow, nnx.Param),
        nnx.state(model, nnx.Param),
    )
    nnx.update(shadow, average, nnx.state(model, nnx.BatchStat))
