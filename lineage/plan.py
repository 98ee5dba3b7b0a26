"""Every value derived from the config, computed in one place, after checking the config.

The training loop, the optimizer, the schedule and the logs read their step counts, batch sizes
and learning rate from one `Plan`, so the arithmetic (global batch over devices and processes,
steps per epoch, warmup, decay interval, batch-scaled learning rate) is written once.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax.numpy as jnp

from lineage.optim import OPTIMIZERS, SCHEDULES

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Derived values of one run.

    Attributes:
      num_devices: devices in the mesh (all processes).
      process_count: processes taking part.
      global_batch: examples per step over all devices (`config.batch_size`).
      process_batch: examples per step this process feeds (`global_batch / process_count`).
      steps_per_epoch: `num_train // global_batch` (at least 1).
      total_steps: steps of the whole run.
      warmup_steps: linear warmup steps.
      decay_every_steps: exponential schedule's decay interval.
      learning_rate: peak learning rate after batch scaling.
      dtype: computation dtype.
    """

    num_devices: int
    process_count: int
    global_batch: int
    process_batch: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    decay_every_steps: int
    learning_rate: float
    dtype: Any


def _choice(value: str, choices: Any, what: str, key: str) -> None:
    if value not in choices:
        raise ValueError(
            f'unknown {what} {value!r} (--config.{key}); choose one of: {", ".join(choices)}'
        )


# The fields every config sets (configs/default.py has them all; a variant imports it). The
# others are read with a default: `conv_impl`, `aux_loss_weight`, every `dataset` field but
# `name`, and the options of `model`, which its constructor checks.
STANDARD_FIELDS = (
    'seed', 'model.name', 'dataset.name', 'batch_size', 'num_epochs', 'num_train_steps',
    'optimizer.name', 'optimizer.learning_rate', 'optimizer.lr_reference_batch',
    'optimizer.momentum', 'optimizer.nesterov', 'optimizer.decay', 'optimizer.eps',
    'optimizer.b1', 'optimizer.b2', 'optimizer.weight_decay', 'optimizer.decay_norm_and_bias',
    'optimizer.grad_clip_norm', 'schedule.name', 'schedule.warmup_epochs', 'schedule.end_factor',
    'schedule.decay_epochs', 'schedule.decay_rate', 'label_smoothing', 'dtype',
    'compilation_cache_dir', 'log_every_steps', 'eval_every_steps', 'checkpoint_every_steps',
    'keep_checkpoints', 'num_devices', 'distributed',
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Interval:
    """The values a numeric field takes: from `low` to `high`, each end in or out."""

    low: float
    high: float = math.inf
    low_in: bool = True
    high_in: bool = False

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_in else value > self.low
        below = value <= self.high if self.high_in else value < self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f'a value {">=" if self.low_in else ">"} {self.low:g}'
        ends = ('[' if self.low_in else '(', ']' if self.high_in else ')')
        return f'a value in {ends[0]}{self.low:g}, {self.high:g}{ends[1]}'


FRACTION = Interval(0, 1)  # [0, 1): rates, decays, momenta
NON_NEGATIVE = Interval(0)
POSITIVE = Interval(0, low_in=False)
COUNT = Interval(1)

# The numeric fields and their ranges. A field a config leaves out (`model.dropout`,
# `ema_decay`, `aux_loss_weight`) or sets to None (`optimizer.eps`: the optimizer's default)
# is not checked.
RANGES: dict[str, Interval] = {
    'batch_size': COUNT,
    'label_smoothing': FRACTION,
    'log_every_steps': COUNT,
    'checkpoint_every_steps': COUNT,
    'keep_checkpoints': COUNT,
    'model.dropout': FRACTION,
    'optimizer.learning_rate': NON_NEGATIVE,
    'optimizer.lr_reference_batch': NON_NEGATIVE,
    'optimizer.momentum': FRACTION,
    'optimizer.decay': FRACTION,
    'optimizer.eps': POSITIVE,
    'optimizer.b1': FRACTION,
    'optimizer.b2': FRACTION,
    'optimizer.weight_decay': NON_NEGATIVE,
    'optimizer.grad_clip_norm': NON_NEGATIVE,
    'schedule.warmup_epochs': NON_NEGATIVE,
    'schedule.end_factor': Interval(0, 1, high_in=True),
    'schedule.decay_epochs': POSITIVE,
    'schedule.decay_rate': Interval(0, 1, low_in=False, high_in=True),
    'ema_decay': FRACTION,
    'aux_loss_weight': NON_NEGATIVE,
}


_MISSING = object()


def _field(config: Any, field: str, default: Any = None) -> Any:
    """`config.<field>` (a dotted name), or `default` where the config has no such field."""
    node = config
    for part in field.split('.'):
        if not hasattr(node, 'keys') or part not in node.keys():
            return default
        node = node[part]
    return node


def check_fields(config: Any) -> None:
    """Checks that `config` has every standard field, before any is read.

    Raises:
      ValueError: one line naming the missing fields.
    """
    missing = [f for f in STANDARD_FIELDS if _field(config, f, _MISSING) is _MISSING]
    if missing:
        raise ValueError(
            f'the config has no {", ".join(missing)}; every config sets the fields of '
            'configs/default.py (a variant imports it and changes a few)'
        )


def validate(config: Any) -> None:
    """Checks the config's values that no library checks for us.

    Raises:
      ValueError: one line naming the bad field and what to give instead.
    """
    _choice(config.optimizer.name, OPTIMIZERS, 'optimizer', 'optimizer.name')
    _choice(config.schedule.name, SCHEDULES, 'schedule', 'schedule.name')
    _choice(config.dtype, tuple(DTYPES), 'dtype', 'dtype')
    if not isinstance(config.seed, int) or config.seed < 0:
        raise ValueError(f'--config.seed={config.seed}: give a non-negative integer')
    if config.eval_every_steps < 0:
        raise ValueError(
            f'--config.eval_every_steps={config.eval_every_steps}: give 0 (evaluate at the end '
            'only) or a number of steps >= 1'
        )
    for field, interval in RANGES.items():
        value = _field(config, field)
        if value is not None and value not in interval:
            raise ValueError(f'--config.{field}={value}: give {interval}')
    if config.num_train_steps <= 0 and config.num_epochs <= 0:
        raise ValueError(
            'nothing to train: set --config.num_epochs or --config.num_train_steps > 0'
        )


def model_options(config: Any) -> tuple[str, dict[str, Any]]:
    """(model name, keyword options) from `config.model`; nested ConfigDicts become dicts."""
    options = config.model.to_dict()
    return options.pop('name'), options


def make_plan(config: Any, num_train: int, num_devices: int, process_count: int) -> Plan:
    """Validates `config` and derives the run's numbers.

    Args:
      config: the run's config.
      num_train: examples in the train split.
      num_devices: devices in the mesh.
      process_count: processes in the run.

    Returns:
      The `Plan`.

    Raises:
      ValueError: a bad config value, or a batch that does not divide over devices/processes.
    """
    validate(config)
    batch = int(config.batch_size)
    if batch % num_devices:
        lower = max(num_devices, batch - batch % num_devices)
        raise ValueError(
            f'--config.batch_size={batch} does not divide over {num_devices} devices; '
            f'use a multiple of {num_devices} (e.g. {lower} or {lower + num_devices})'
        )
    # Devices divide evenly among processes, so a batch that divides over devices does too.
    steps_per_epoch = max(1, num_train // batch)
    if config.num_train_steps > 0:
        total = int(config.num_train_steps)
    else:
        total = max(1, math.ceil(config.num_epochs * steps_per_epoch))
    lr = float(config.optimizer.learning_rate)
    if config.optimizer.lr_reference_batch > 0:
        lr *= batch / config.optimizer.lr_reference_batch
    return Plan(
        num_devices=num_devices,
        process_count=process_count,
        global_batch=batch,
        process_batch=batch // process_count,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=min(total, round(config.schedule.warmup_epochs * steps_per_epoch)),
        decay_every_steps=max(1, round(config.schedule.decay_epochs * steps_per_epoch)),
        learning_rate=lr,
        dtype=DTYPES[config.dtype],
    )
