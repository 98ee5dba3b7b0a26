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

from typing import Any

import jax
import optax

from lineage.plan import Plan


def learning_rate_schedule(config: Any, plan: Plan) -> optax.Schedule:
    """Step -> learning rate: warmup from 0 to `plan.learning_rate`, then the decay.

    Args:
      config: the run's config (reads `config.schedule`).
      plan: the run's derived values (peak rate, total, warmup and decay steps).

    Returns:
      An optax schedule.
    """
    peak, warmup, total = plan.learning_rate, plan.warmup_steps, plan.total_steps
    name = config.schedule.name
    if name == 'cosine':
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=peak,
            warmup_steps=warmup,
            decay_steps=max(total, warmup + 1),
            end_value=peak * config.schedule.end_factor,
        )
    if name == 'exponential':
        decay = optax.exponential_decay(
            peak, plan.decay_every_steps, config.schedule.decay_rate, staircase=True
        )
    elif name == 'constant':
        decay = optax.constant_schedule(peak)
    else:
        raise ValueError(f'unknown schedule {name!r}; choose one of: constant, cosine, exponential')
    if warmup == 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def weight_decay_mask(params: Any) -> Any:
    """True for the parameters to decay: kernels (ndim >= 2), not BatchNorm params or biases."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


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


def make_optimizer(config: Any, plan: Plan) -> optax.GradientTransformation:
    """The optax transformation of `config.optimizer`, with its schedule.

    Args:
      config: the run's config.
      plan: the run's derived values.

    Returns:
      gradient clipping (if asked) -> weight decay -> the optimizer, as one transformation.
    """
    opt = config.optimizer
    schedule = learning_rate_schedule(config, plan)
    mask = None if opt.decay_norm_and_bias else weight_decay_mask
    parts = []
    if opt.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(opt.grad_clip_norm))
    if opt.name == 'adamw':
        eps = 1e-8 if opt.eps is None else opt.eps
        parts.append(
            optax.adamw(
                schedule, b1=opt.b1, b2=opt.b2, eps=eps, weight_decay=opt.weight_decay, mask=mask
            )
        )
        return optax.chain(*parts)
    if opt.weight_decay > 0:
        parts.append(optax.add_decayed_weights(opt.weight_decay, mask))
    if opt.name == 'sgd':
        parts.append(optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov))
    elif opt.name == 'rmsprop':
        eps = 1.0 if opt.eps is None else opt.eps
        parts.append(
            optax.rmsprop(
                schedule,
                decay=opt.decay,
                eps=eps,
                initial_scale=1.0,
                eps_in_sqrt=True,
                momentum=opt.momentum or None,
            )
        )
    else:
        raise ValueError(f'unknown optimizer {opt.name!r}; choose one of: adamw, rmsprop, sgd')
    return optax.chain(*parts)
