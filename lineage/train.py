"""The training job: `train_and_evaluate(config, workdir)`, called by `lineage.main`.

Order of work, chosen so that bad input fails before anything is written: pick the devices,
build the data set and the model by name, derive the plan (batch over devices, steps,
learning rate), count parameters and MACs on the abstract model (which also checks the model
takes the data's images), read the workdir's latest checkpoint and refuse one written for
another model, data set or optimizer. Only then is the workdir written to.

The loop dispatches steps without waiting for them: the host reads device values only every
`log_every_steps` (to log, and to stop on a NaN or Inf loss naming the step), at checkpoints
and at evaluation.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from absl import logging

from lineage import (
    checkpoint,
    counting,
    disk_full,
    init_from,
    optim,
    parallel,
    train_step,
    workdir_lock,
)
from lineage.blocks import conv_algorithms
from lineage.data import build_dataset
from lineage.metrics import Metrics, host_info, library_versions, read_results
from lineage.plan import check_fields, make_plan, model_options
from lineage.preemption import Preemption


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf; the message names the step."""


def evaluate(
    eval_step: Any,
    model_state: Any,
    dataset: Any,
    batch_size: int,
    mesh: Any,
    stop: Callable[[], bool] | None = None,
) -> dict[str, float] | None:
    """Top-1 (and top-5) accuracy and mean loss over the whole eval split, each example once.

    Args:
      eval_step: from `train_step.make_eval_step`.
      model_state: the model's part of the train state.
      dataset: the `Dataset`.
      batch_size: per-process eval batch (divisible by the local devices).
      mesh: the device mesh.
      stop: polled before each batch (one process only); when it turns true the evaluation
        is abandoned and None returned, so a SIGTERM is not held up by a long eval split.
    """
    replicated = parallel.replicated(mesh)
    totals = train_step.eval_totals(dataset.num_classes, replicated)
    for local in dataset.eval_batches(batch_size):
        if stop is not None and stop():
            return None
        totals = eval_step(
            model_state, parallel.global_batch(local, parallel.batch_sharded(mesh)), totals
        )
    totals = {k: float(v) for k, v in jax.device_get(totals).items()}
    count = totals['count']
    if round(count) != dataset.num_eval:
        raise RuntimeError(f'eval saw {count:.0f} examples, the split has {dataset.num_eval}')
    result = {'top1': totals['correct'] / count, 'loss': totals['loss'] / count}
    result['correct'] = int(round(totals['correct']))
    if 'correct_top5' in totals:
        result['top5'] = totals['correct_top5'] / count
    return result


def _check_finite(
    pending: list[tuple[int, dict[str, Any]]], ckpt: checkpoint.Checkpoints
) -> list[tuple[int, dict]]:
    """Fetches the pending per-step metrics; raises naming the first step with a bad loss.

    The message names the checkpoint a rerun would resume from: saved before the loss went bad,
    it may already hold a diverging state, so the advice is to start over.
    """
    fetched = jax.device_get(pending)
    for step, values in fetched:
        if not math.isfinite(float(values['loss'])):
            if ckpt.saved_step:
                rerun = (
                    f'a rerun in {ckpt.workdir} would resume from the checkpoint at step '
                    f'{ckpt.saved_step}, which may already be diverging: start over with a new '
                    f'--workdir (or delete {ckpt.directory})'
                )
            else:
                rerun = 'no checkpoint was saved, so a rerun starts over'
            raise NonFiniteLossError(
                f'loss is {float(values["loss"])} at step {step}; lower '
                '--config.optimizer.learning_rate or set --config.optimizer.grad_clip_norm; '
                + rerun
            )
    return fetched


def _fingerprint(config: Any, dataset: Any) -> dict[str, Any]:
    """What the train state depends on: a checkpoint written under another is refused."""
    name, options = model_options(config)
    return {
        'model': name,
        'options': options,
        'num_classes': dataset.num_classes,
        'image_shape': list(dataset.image_shape),
        # The data set by what it holds, not where it lies: a run resumes with its data moved.
        'data': {'name': config.dataset.name, 'train': dataset.num_train, 'eval': dataset.num_eval},
        'optimizer': optim.state_fields(config),
        # The state holds the parameter average only where this is set: only such a run resumes.
        'ema_decay': config.get('ema_decay') or None,
    }


def _finished(workdir: str, total: int) -> dict[str, Any] | None:
    """The results.json of a run that finished its `total` steps, or None (on every process).

    A run stopped after its last step, before its final evaluation, has none: it evaluates.
    """
    results = read_results(workdir)
    done = results is not None and results.get('train_steps') == total
    return results if checkpoint.everywhere(done) else None


def _stopped(step: int, signum: int | None) -> dict[str, Any]:
    logging.info('stopped at step %d (checkpoint saved); rerun to resume', step)
    return {'preempted': True, 'step': step, 'signal': signum}


def train_and_evaluate(config: Any, workdir: str) -> dict:
    """Trains `config` in `workdir` (resuming from its latest checkpoint) and evaluates.

    Args:
      config: the run's config (see configs/default.py).
      workdir: directory for checkpoints, metrics.jsonl, TensorBoard events, results.json.

    Returns:
      The results (as written to results.json), or `{'preempted': True, 'step': n,
      'signal': signum}` when a SIGTERM or SIGINT stopped the run after step n (saved).

    Raises:
      ValueError: bad input, one line naming it and the fix; nothing in `workdir` is written.
      NonFiniteLossError: the loss went NaN or Inf (the message names the step).
    """
    # The conv form is read when the steps are traced, all of which happens inside this call.
    with conv_algorithms.conv_impl(config.get('conv_impl', 'auto')):
        return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config: Any, workdir: str) -> dict:
    started = time.perf_counter()
    check_fields(config)
    parallel.initialize(config.distributed)
    mesh = parallel.make_mesh(config.num_devices)
    replicated = parallel.replicated(mesh)
    dataset = build_dataset(config.dataset, jax.process_index(), jax.process_count())
    for split, size in (('train_split', dataset.num_train), ('eval_split', dataset.num_eval)):
        if not size:  # found now, not as a division by zero after all the training
            raise ValueError(
                f'{dataset.name}: the {split.split("_")[0]} split is empty (0 examples); give '
                f'it images, or set --config.dataset.{split}'
            )
    plan = make_plan(config, dataset.num_train, mesh.size, jax.process_count())
    schedule = optim.learning_rate_schedule(config, plan)
    tx = optim.make_optimizer(config, schedule)
    logged_rate = jax.jit(schedule)  # one compile, for the logs
    state_def = train_step.create_train_state(
        config, dataset.num_classes, plan.dtype, tx, replicated
    )
    name, options = model_options(config)
    try:
        macs = counting.total_macs(state_def.model, dataset.image_shape)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f'model {name!r} does not take {dataset.name} images of shape '
            f'{dataset.image_shape} ({str(e).splitlines()[0]}); check --config.model '
            '(e.g. in_channels) against --config.dataset'
        ) from None
    params = counting.param_count(state_def.model)
    ckpt = checkpoint.Checkpoints(workdir, _fingerprint(config, dataset), config.keep_checkpoints)
    start_step, record = ckpt.check()
    total = plan.total_steps
    if start_step > total:
        raise ValueError(
            f'{workdir} holds a checkpoint at step {start_step}, past the {total} steps this '
            'config trains; pass another --workdir or raise the number of steps'
        )
    pretrained = None
    if config.get('init_from') and not start_step:
        pretrained = init_from.read(config.init_from, name, options)
    # -- nothing above writes to the workdir; from here on it is ours ---------------------
    ckpt.probe(state_def.abstract)  # unwritable or full: one line now, not a crash mid-run
    # A second run on this workdir: one line, now; a disk that fills up: one line, at once.
    with workdir_lock.hold(workdir), disk_full.reported(workdir):
        # The latest checkpoint that restores: a damaged later one is named and set aside.
        start_step, state, record = ckpt.resume(state_def.abstract)
        if start_step == total and (results := _finished(workdir, total)) is not None:
            logging.info(
                '%s finished at step %d already; results.json left as it was', workdir, total
            )
            return results
        if start_step:
            logging.info('resumed from step %d of %d in %s', start_step, total, workdir)
        else:
            state = state_def.init()
            if pretrained is not None:
                state = init_from.apply(state, pretrained, config.init_from, replicated)
                logging.info('started from the weights in %s', config.init_from)
        elapsed_before = float(record.get('elapsed_s', 0.0))
        # Every machine that trained the run: a run resumed elsewhere (a checkpoint carried to
        # a new machine) has images/s and a wall time that are no one CPU's.
        here = host_info()
        hosts = record.get('hosts', [])
        hosts = hosts if here in hosts else [*hosts, here]
        metrics = Metrics(workdir, total, plan.global_batch, start_step, jax.process_index() == 0)
        logging.info(
            '%s (%s params, %.1fM MACs) on %s: %d steps of %d images on %d device(s)',
            name,
            f'{params:,}',
            macs / 1e6,
            dataset.name,
            total,
            plan.global_batch,
            mesh.size,
        )

        run_step = train_step.make_train_step(
            state_def.graphdef, replicated, **train_step.step_options(config)
        )
        eval_step = train_step.make_eval_step(state_def.eval_graphdef, replicated)
        sharding = parallel.batch_sharded(mesh)

        def elapsed() -> float:
            return elapsed_before + time.perf_counter() - started

        def run_eval(step: int, stop: Callable[[], bool] | None = None) -> dict[str, float] | None:
            result = evaluate(
                eval_step, train_step.eval_part(state), dataset, plan.process_batch, mesh, stop
            )
            if result is None:
                return None
            scalars = {f'eval_{k}': v for k, v in result.items() if k != 'correct'}
            if (step, 'eval_top1') not in metrics.logged:  # a finished run rerun: logged already
                metrics.write(step, scalars)
            logging.info('step %d: %s', step, ', '.join(f'{k}={v:.4f}' for k, v in scalars.items()))
            return result

        batches = iter(dataset.train_batches(plan.process_batch, config.seed, start_step))
        pending: list[tuple[int, dict[str, Any]]] = []
        compile_s = None
        step = start_step
        # The handler holds from the first step to results.json: a SIGTERM in the last moments
        # (final checkpoint, final evaluation) still leaves the final checkpoint whole.
        with Preemption() as preemption:
            try:
                while step < total:
                    batch = parallel.global_batch(next(batches), sharding)
                    state, step_metrics = run_step(state, batch)
                    step += 1
                    pending.append((step, step_metrics))
                    if compile_s is None:
                        jax.block_until_ready(step_metrics)
                        compile_s = time.perf_counter() - started
                        metrics.start_timer(step)
                    stop = preemption.reached(step)
                    if step % config.log_every_steps == 0 or step == total:
                        fetched = _check_finite(pending, ckpt)
                        pending = []
                        scalars = {
                            'loss': np.mean([m['loss'] for _, m in fetched]),
                            'accuracy': np.mean([m['accuracy'] for _, m in fetched]),
                            'learning_rate': float(logged_rate(step - 1)),
                            **metrics.timing(step),
                        }
                        metrics.write(step, scalars)
                    if step % config.checkpoint_every_steps == 0 or step == total or stop:
                        _check_finite(pending, ckpt)  # never save a state that went NaN
                        ckpt.save(step, state, elapsed(), hosts)
                        metrics.start_timer(step)
                    if (
                        config.eval_every_steps
                        and step % config.eval_every_steps == 0
                        and step < total
                    ):
                        run_eval(step)
                        metrics.start_timer(step)
                    if stop and step < total:
                        return _stopped(step, preemption.signum)
                # Asked to stop after the last step: the final checkpoint is kept (waited for
                # below) and the rerun evaluates.
                final = None if preemption.requested else run_eval(total, preemption.asked)
                if final is None:
                    return _stopped(total, preemption.signum)
            finally:
                try:
                    ckpt.close()
                finally:  # the writers close even when the checkpoint's write failed
                    metrics.close()
        # An epoch is `steps_per_epoch` batches, or the whole split when one batch is larger
        # (the digits then wrap into the next epoch).
        images_per_epoch = min(plan.steps_per_epoch * plan.global_batch, dataset.num_train)
        results = {
            'model': name,
            'block': config.model.get('block'),
            'dataset': dataset.name,
            'params': params,
            'macs': macs,
            'top1': final['top1'],
            'top5': final.get('top5'),
            'eval_loss': final['loss'],
            'correct': final['correct'],
            'num_eval': dataset.num_eval,
            # top-1 in percentage points per million parameters: the lineage's figure of merit.
            'accuracy_per_million_params': 100 * final['top1'] / (params / 1e6),
            'train_steps': total,
            'epochs': total * plan.global_batch / images_per_epoch,
            'global_batch': plan.global_batch,
            'train_images_per_sec': (
                statistics.median(metrics.throughput) if metrics.throughput else None
            ),
            'first_step_s': compile_s,
            'wall_time_s': elapsed(),
            'devices': parallel.device_info(mesh),
            'host': here,  # the machine that finished the run
            'hosts': hosts,  # every machine that trained it, in order
            'versions': library_versions(),
            'config': config.to_dict(),
        }
        metrics.write_results(results)
        return results
