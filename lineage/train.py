"""The training job: `train_and_evaluate(config, workdir)`, called by `lineage.main`.

Order of work, chosen so that bad input fails before anything is written: pick the devices,
build the data set and the model by name, derive the plan (batch over devices, steps,
learning rate), count parameters and MACs on the abstract model (which also checks the model
takes the data's images), read the workdir's latest checkpoint and refuse one written for
another model, data set, optimizer or training recipe (`lineage.run_fingerprint`). Only then is
the workdir written to.

The job runs as named phases: `start` (check the config, join a multi-process run), `_build`
(data set and `lineage.run_builder.Run`), `_check_workdir` (nothing written yet), `_restore`
(resume, or initialize), `_loop` (the steps), the final `evaluate`, and `_results`.

The loop dispatches steps without waiting for them: the host reads device values only every
`log_every_steps` (to log, and to stop on a NaN or Inf loss naming the step), at checkpoints
and at evaluation.
"""

from __future__ import annotations

import dataclasses
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
    compilation_cache,
    counting,
    disk_full,
    init_from,
    parallel,
    train_step,
    workdir_lock,
)
from lineage.data import build_dataset
from lineage.eval_split import evaluate
from lineage.metrics import Metrics, host_info, library_versions, read_results
from lineage.plan import check_fields
from lineage.preemption import Preemption
from lineage.run_builder import Run, build_run
from lineage.run_fingerprint import fingerprint


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf; the message names the step."""


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


def start(config: Any, launch: dict[str, Any] | None = None, cache: bool = False) -> None:
    """What every job does first: check the config's fields, join a multi-process run.

    Args:
      config: the job's config.
      launch: `parallel.initialize`'s explicit multi-process parameters (the command line's
        `--coordinator_address`, `--num_processes`, `--process_id`), or None.
      cache: turn on JAX's persistent compilation cache at `config.compilation_cache_dir`
        (the command line does; a library call leaves it as it is).

    Raises:
      ValueError: a missing config field, or incomplete multi-process parameters (one line).
    """
    check_fields(config)
    parallel.initialize(config.distributed, **(launch or {}))
    if cache:
        compilation_cache.enable(config.compilation_cache_dir)


@dataclasses.dataclass(frozen=True)
class _Job:
    """What the phases after the checks share."""

    run: Run
    dataset: Any
    params: int
    macs: int
    ckpt: checkpoint.Checkpoints | None = None


def _build(config: Any) -> _Job:
    """The data set, the run, and the model's size (which checks it takes the data's images)."""
    mesh = parallel.make_mesh(config.num_devices)
    dataset = build_dataset(config.dataset, jax.process_index(), jax.process_count())
    for split, size in (('train_split', dataset.num_train), ('eval_split', dataset.num_eval)):
        if not size:  # found now, not as a division by zero after all the training
            raise ValueError(
                f'{dataset.name}: the {split.split("_")[0]} split is empty (0 examples); give '
                f'it images, or set --config.dataset.{split}'
            )
    if config.batch_size > dataset.num_train:  # epochs, warmup and decay count whole steps
        raise ValueError(
            f'--config.batch_size={config.batch_size} is larger than the train split of '
            f'{dataset.name} ({dataset.num_train:,} examples), so an epoch would be less than one '
            f'step; give a batch of at most {dataset.num_train}'
        )
    run = build_run(config, dataset.num_train, dataset.num_classes, mesh)
    try:
        macs = counting.total_macs(run.state.model, dataset.image_shape)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f'model {run.model_name!r} does not take {dataset.name} images of shape '
            f'{dataset.image_shape} ({str(e).splitlines()[0]}); check --config.model '
            '(e.g. in_channels) against --config.dataset'
        ) from None
    return _Job(run, dataset, counting.param_count(run.state.model), macs)


def _check_workdir(workdir: str, job: _Job) -> tuple[_Job, dict[str, Any] | None]:
    """The job with the workdir's checkpoints, checked against the run, and the `init_from`
    weights a fresh run starts from (None: none, or the run resumes). Writes nothing."""
    run, config = job.run, job.run.config
    ckpt = checkpoint.Checkpoints(workdir, fingerprint(run, job.dataset), config.keep_checkpoints)
    start_step, _ = ckpt.check()
    total = run.plan.total_steps
    if start_step > total:
        raise ValueError(
            f'{workdir} holds a checkpoint at step {start_step}, past the {total} steps this '
            'config trains; pass another --workdir or raise the number of steps'
        )
    pretrained = None
    if config.get('init_from') and not start_step:
        pretrained = init_from.read(config.init_from, run.model_name, run.model_options)
    return dataclasses.replace(job, ckpt=ckpt), pretrained


@dataclasses.dataclass
class _Progress:
    """What the loop carries: the state, its step, and the run's time and machines so far."""

    state: Any
    step: int
    host: dict[str, Any]  # the machine this process runs on
    hosts: list[dict[str, Any]]  # every machine that trained the run, in order
    elapsed_before: float  # seconds the run took before this process resumed it
    started: float  # `time.perf_counter()` when this process started the job
    compile_s: float | None = None  # seconds to the first step's end

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started


def _restore(
    workdir: str, job: _Job, pretrained: dict[str, Any] | None, started: float
) -> _Progress | dict[str, Any]:
    """The latest checkpoint that restores, or a fresh state; a finished run's results."""
    run, total = job.run, job.run.plan.total_steps
    # The latest checkpoint that restores: a damaged later one is named and set aside.
    start_step, state, record = job.ckpt.resume(run.state.abstract)
    if start_step == total and (results := _finished(workdir, total)) is not None:
        logging.info('%s finished at step %d already; results.json left as it was', workdir, total)
        return results
    if start_step:
        logging.info('resumed from step %d of %d in %s', start_step, total, workdir)
    else:
        state = run.state.init()
        if pretrained is not None:
            init_from_dir = run.config.init_from
            state = init_from.apply(state, pretrained, init_from_dir, run.replicated)
            logging.info('started from the weights in %s', init_from_dir)
    # Every machine that trained the run: a run resumed elsewhere (a checkpoint carried to a
    # new machine) has images/s and a wall time that are no one CPU's.
    here = host_info()
    hosts = record.get('hosts', [])
    hosts = hosts if here in hosts else [*hosts, here]
    elapsed_before = float(record.get('elapsed_s', 0.0))
    return _Progress(state, start_step, here, hosts, elapsed_before, started)


def _evaluate_at(
    job: _Job, metrics: Metrics, state: Any, step: int, stop: Callable[[], bool] | None = None
) -> dict[str, float] | None:
    """`evaluate`, logged and written at `step`; None when `stop` abandoned it."""
    result = evaluate(job.run, train_step.eval_part(state), job.dataset, stop)
    if result is None:
        return None
    scalars = {f'eval_{k}': v for k, v in result.items() if k != 'correct'}
    if (step, 'eval_top1') not in metrics.logged:  # a finished run rerun: logged already
        metrics.write(step, scalars)
    logging.info('step %d: %s', step, ', '.join(f'{k}={v:.4f}' for k, v in scalars.items()))
    return result


def _log_steps(
    pending: list[tuple[int, dict[str, Any]]],
    ckpt: checkpoint.Checkpoints,
    metrics: Metrics,
    step: int,
    rate: Callable[[int], Any],
) -> None:
    """Writes the mean loss and accuracy of the `pending` steps (checked finite) at `step`."""
    fetched = _check_finite(pending, ckpt)
    scalars = {
        'loss': np.mean([m['loss'] for _, m in fetched]),
        'accuracy': np.mean([m['accuracy'] for _, m in fetched]),
        'learning_rate': float(rate(step - 1)),
        **metrics.timing(step),
    }
    metrics.write(step, scalars)


def _loop(
    job: _Job, metrics: Metrics, progress: _Progress, preemption: Preemption
) -> dict[str, Any] | None:
    """Trains from `progress.step` to the plan's total; `_stopped`'s dict when asked to stop
    before the last step (after saving), else None."""
    run, ckpt = job.run, job.ckpt
    config, total = run.config, run.plan.total_steps
    rate = jax.jit(run.schedule)  # one compile, for the logs
    batches = iter(job.dataset.train_batches(run.plan.process_batch, config.seed, progress.step))
    pending: list[tuple[int, dict[str, Any]]] = []
    while progress.step < total:
        batch = parallel.global_batch(next(batches), run.batch_sharded)
        progress.state, step_metrics = run.train_step(progress.state, batch)
        progress.step = step = progress.step + 1
        pending.append((step, step_metrics))
        if progress.compile_s is None:
            jax.block_until_ready(step_metrics)
            progress.compile_s = time.perf_counter() - progress.started
            metrics.start_timer(step)
        stop = preemption.reached(step)
        if step % config.log_every_steps == 0 or step == total:
            _log_steps(pending, ckpt, metrics, step, rate)
            pending = []
        if step % config.checkpoint_every_steps == 0 or step == total or stop:
            _check_finite(pending, ckpt)  # never save a state that went NaN
            ckpt.save(step, progress.state, progress.elapsed(), progress.hosts)
            metrics.start_timer(step)
        if config.eval_every_steps and step % config.eval_every_steps == 0 and step < total:
            _evaluate_at(job, metrics, progress.state, step)
            metrics.start_timer(step)
        if stop and step < total:
            return _stopped(step, preemption.signum)
    return None


def _train(job: _Job, progress: _Progress) -> dict[str, Any]:
    """The loop and the final evaluation; the results, or `_stopped`'s dict."""
    run, ckpt = job.run, job.ckpt
    total, batch = run.plan.total_steps, run.plan.global_batch
    metrics = Metrics(ckpt.workdir, total, batch, progress.step, jax.process_index() == 0)
    logging.info(
        '%s (%s params, %.1fM MACs) on %s: %d steps of %d images on %d device(s)',
        run.model_name, f'{job.params:,}', job.macs / 1e6, job.dataset.name, total, batch,
        run.mesh.size,
    )  # fmt: skip
    # The handler holds from the first step to results.json: a SIGTERM in the last moments
    # (final checkpoint, final evaluation) still leaves the final checkpoint whole.
    with Preemption() as preemption:
        try:
            stopped = _loop(job, metrics, progress, preemption)
            if stopped is not None:
                return stopped
            # Asked to stop after the last step: the final checkpoint is kept (waited for
            # below) and the rerun evaluates.
            final = None
            if not preemption.requested:
                final = _evaluate_at(job, metrics, progress.state, total, preemption.asked)
            if final is None:
                return _stopped(total, preemption.signum)
        finally:
            try:
                ckpt.close()
            finally:  # the writers close even when the checkpoint's write failed
                metrics.close()
    results = _results(job, final, metrics, progress)
    metrics.write_results(results)
    return results


def _results(
    job: _Job, final: dict[str, float], metrics: Metrics, progress: _Progress
) -> dict[str, Any]:
    """The run's results.json."""
    run, dataset, plan = job.run, job.dataset, job.run.plan
    return {
        'model': run.model_name,
        'block': run.config.model.get('block'),
        'dataset': dataset.name,
        'params': job.params,
        'macs': job.macs,
        'top1': final['top1'],
        'top5': final.get('top5'),
        'eval_loss': final['loss'],
        'correct': final['correct'],
        'num_eval': dataset.num_eval,
        # top-1 in percentage points per million parameters: the lineage's figure of merit.
        'accuracy_per_million_params': 100 * final['top1'] / (job.params / 1e6),
        'train_steps': plan.total_steps,
        'epochs': plan.total_steps / plan.steps_per_epoch,
        'global_batch': plan.global_batch,
        'train_images_per_sec': (
            statistics.median(metrics.throughput) if metrics.throughput else None
        ),
        'first_step_s': progress.compile_s,
        'wall_time_s': progress.elapsed(),
        'devices': parallel.device_info(run.mesh),
        'host': progress.host,  # the machine that finished the run
        'hosts': progress.hosts,  # every machine that trained it, in order
        'versions': library_versions(),
        'config': run.config.to_dict(),
    }


def train_and_evaluate(
    config: Any, workdir: str, launch: dict[str, Any] | None = None, cache: bool = False
) -> dict:
    """Trains `config` in `workdir` (resuming from its latest checkpoint) and evaluates.

    Args:
      config: the run's config (see configs/default.py).
      workdir: directory for checkpoints, metrics.jsonl, TensorBoard events, results.json.
      launch, cache: as for `start`.

    Returns:
      The results (as written to results.json), or `{'preempted': True, 'step': n,
      'signal': signum}` when a SIGTERM or SIGINT stopped the run after step n (saved).

    Raises:
      ValueError: bad input, one line naming it and the fix; nothing in `workdir` is written.
      NonFiniteLossError: the loss went NaN or Inf (the message names the step).
    """
    started = time.perf_counter()
    start(config, launch, cache)
    job, pretrained = _check_workdir(workdir, _build(config))
    # -- nothing above writes to the workdir; from here on it is ours ---------------------
    job.ckpt.probe(job.run.state.abstract)  # unwritable or full: one line now, not a crash mid-run
    # A second run on this workdir: one line, now; a disk that fills up: one line, at once.
    with workdir_lock.hold(workdir), disk_full.reported(workdir):
        progress = _restore(workdir, job, pretrained, started)
        if not isinstance(progress, _Progress):  # finished already: its results
            return progress
        return _train(job, progress)
