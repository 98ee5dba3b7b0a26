"""The optimizer and learning-rate schedule, as configuration (optax).

Optimizers: SGD with momentum or Nesterov momentum (ResNet, MobileNet v2), RMSProp in its
TensorFlow form (Inception v3, Xception, MobileNet v1: decay 0.9, momentum 0.9, epsilon 1.0
inside the square root, mean square initialized to 1), AdamW (Loshchilov & Hutter 2019).
Schedules: linear warmup then cosine decay, or then exponential decay every N epochs in steps
(the Inception recipe: 0.94 every 2 epochs), or constant.

Weight decay for SGD and RMSProp is added to the gradient before the momentum (L2
regularization, as in those papers); AdamW decays decoupled from the adaptive step. BatchNorm
scales and offsets and biases are excluded from decay unless `decay_norm_and_bias` is set: they
are the 1-D parameters (`weight_decay_mask`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import optax


class Plan(Protocol):
    """The derived values a schedule reads (`lineage.plan.Plan` has them, among others)."""

    learning_rate: float
    warmup_steps: int
    total_steps: int
    decay_every_steps: int


def _cosine(schedule: Any, plan: Plan) -> optax.Schedule:
    peak, warmup = plan.learning_rate, plan.warmup_steps
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak,
        warmup_steps=warmup,
        decay_steps=max(plan.total_steps, warmup + 1),
        end_value=peak * schedule.end_factor,
    )


def _exponential(schedule: Any, plan: Plan) -> optax.Schedule:
    return _after_warmup(
        optax.exponential_decay(
            plan.learning_rate, plan.decay_every_steps, schedule.decay_rate, staircase=True
        ),
        plan,
    )


def _constant(schedule: Any, plan: Plan) -> optax.Schedule:
    del schedule
    return _after_warmup(optax.constant_schedule(plan.learning_rate), plan)


def _after_warmup(decay: optax.Schedule, plan: Plan) -> optax.Schedule:
    """A linear warmup from 0 to the peak over `plan.warmup_steps`, then `decay`."""
    peak, warmup = plan.learning_rate, plan.warmup_steps
    if warmup == 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


# `config.schedule.name` -> `(config.schedule, plan) -> schedule`; validation, its error and
# configs/default.py read the names from here.
SCHEDULES: dict[str, Callable[[Any, Plan], optax.Schedule]] = {
    'constant': _constant,
    'cosine': _cosine,
    'exponential': _exponential,
}


def learning_rate_schedule(config: Any, plan: Plan) -> optax.Schedule:
    """Step -> learning rate: warmup from 0 to `plan.learning_rate`, then the decay.

    Args:
      config: the run's config (reads `config.schedule`; its name is a key of `SCHEDULES`,
        checked by `plan.validate`).
      plan: the run's derived values (peak rate, total, warmup and decay steps).

    Returns:
      An optax schedule.
    """
    return SCHEDULES[config.schedule.name](config.schedule, plan)


def weight_decay_mask(params: Any) -> Any:
    """True for the parameters to decay: kernels (ndim >= 2), not BatchNorm params or biases."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def _coupled_decay(opt: Any, mask: Any) -> list[optax.GradientTransformation]:
    """L2 weight decay added to the gradient before the optimizer (SGD, RMSProp papers)."""
    return [optax.add_decayed_weights(opt.weight_decay, mask)] if opt.weight_decay > 0 else []


def _sgd(opt: Any, schedule: optax.Schedule, mask: Any) -> list[optax.GradientTransformation]:
    return [
        *_coupled_decay(opt, mask),
        optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov),
    ]


def _rmsprop(opt: Any, schedule: optax.Schedule, mask: Any) -> list[optax.GradientTransformation]:
    return [
        *_coupled_decay(opt, mask),
        optax.rmsprop(
            schedule,
            decay=opt.decay,
            eps=1.0 if opt.eps is None else opt.eps,
            initial_scale=1.0,
            eps_in_sqrt=True,
            momentum=opt.momentum or None,
        ),
    ]


def _adamw(opt: Any, schedule: optax.Schedule, mask: Any) -> list[optax.GradientTransformation]:
    eps = 1e-8 if opt.eps is None else opt.eps
    return [
        optax.adamw(
            schedule, b1=opt.b1, b2=opt.b2, eps=eps, weight_decay=opt.weight_decay, mask=mask
        )
    ]


# `config.optimizer.name` -> `(config.optimizer, schedule, decay mask) -> transformations`;
# validation, its error and configs/default.py read the names from here.
OPTIMIZERS: dict[str, Callable[[Any, optax.Schedule, Any], list[optax.GradientTransformation]]] = {
    'adamw': _adamw,
    'rmsprop': _rmsprop,
    'sgd': _sgd,
}


def state_fields(config: Any) -> dict[str, Any]:
    """The `config.optimizer` settings that shape the optimizer's state, as `make_optimizer`
    builds it: a checkpoint restores only into a state of the same shape."""
    opt = config.optimizer
    fields = {'name': opt.name, 'clips_gradients': opt.grad_clip_norm > 0}
    decays = opt.name == 'adamw' or opt.weight_decay > 0
    if decays:
        fields['decay_norm_and_bias'] = bool(opt.decay_norm_and_bias)
    if opt.name != 'adamw':
        fields['decays_weights'] = opt.weight_decay > 0
        fields['momentum'] = bool(opt.momentum)
    return fields


def make_optimizer(config: Any, schedule: optax.Schedule) -> optax.GradientTransformation:
    """The optax transformation of `config.optimizer`, stepping at `schedule`'s rates.

    Args:
      config: the run's config (its `optimizer.name` is a key of `OPTIMIZERS`, checked by
        `plan.validate`).
      schedule: the learning rate schedule, from `learning_rate_schedule`.

    Returns:
      gradient clipping (if asked) -> weight decay -> the optimizer, as one transformation.
    """
    opt = config.optimizer
    mask = None if opt.decay_norm_and_bias else weight_decay_mask
    clip = [optax.clip_by_global_norm(opt.grad_clip_norm)] if opt.grad_clip_norm > 0 else []
    return optax.chain(*clip, *OPTIMIZERS[opt.name](opt, schedule, mask))
