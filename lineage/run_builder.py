"""One run, assembled from its config: plan, schedule, optimizer, train state and jitted steps.

Training (`lineage.train`), evaluation alone (`lineage.evaluate`) and every timer of the train
step (the sweep's timed rates in experiments/sweeping/, the benchmarks and workers in
experiments/bench/) build their step here, so a benchmark times the step that training runs: the
same model options, `Plan`, schedule and optimizer, the same `step_options`, the same mesh.

The conv form (`config.conv_impl`, lineage/blocks/conv_algorithms.py) is read when a step is
traced, which `jax.jit` does lazily at the first call (or at `.trace` / `.lower`). The steps a `Run`
holds enter the config's form around every call and trace, so a caller cannot trace them under
another form by accident.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding

from lineage import optim, parallel, train_step
from lineage.blocks import conv_algorithms
from lineage.plan import Plan, make_plan, model_options


@dataclasses.dataclass(frozen=True)
class InForm:
    """A jitted step that is traced (and called) under the run's conv form.

    Attributes:
      jitted: the `jax.jit` function.
      conv_impl: the form its convs take (`conv_algorithms.Impl`).
    """

    jitted: Any
    conv_impl: conv_algorithms.Impl

    def __call__(self, *args: Any) -> Any:
        with conv_algorithms.conv_impl(self.conv_impl):
            return self.jitted(*args)

    def trace(self, *args: Any) -> Any:
        """`jax.jit(...).trace(*args)` under the form: lower and compile it ahead of time."""
        with conv_algorithms.conv_impl(self.conv_impl):
            return self.jitted.trace(*args)


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything a run derives from its config before it touches data or a checkpoint.

    Attributes:
      config: the run's config.
      model_name: `config.model.name`.
      model_options: the model's keyword options (`config.model` without its name).
      num_classes: classes of the data set, the model's outputs.
      plan: steps, batches and learning rate (`lineage.plan.Plan`).
      schedule: step -> learning rate.
      optimizer: the optax transformation (`optax.identity()` for evaluation alone).
      state: the abstract train state and its `init` (`train_step.TrainState`).
      train_step: `(state, batch) -> (state, metrics)`, donating the state; None for evaluation
        alone.
      eval_step: `(model_state, batch, totals) -> totals`.
      mesh: the device mesh.
      replicated: the state's sharding over `mesh`.
      batch_sharded: a batch's sharding over `mesh` (split on its leading axis).
      conv_impl: the conv form the steps are traced with.
    """

    config: Any
    model_name: str
    model_options: dict[str, Any]
    num_classes: int
    plan: Plan
    schedule: optax.Schedule
    optimizer: optax.GradientTransformation
    state: train_step.TrainState
    train_step: InForm | None
    eval_step: InForm
    mesh: Mesh
    replicated: NamedSharding
    batch_sharded: NamedSharding
    conv_impl: conv_algorithms.Impl


def _conv_impl(config: Any) -> conv_algorithms.Impl:
    """`config.conv_impl` ('auto' when unset); a per-kind ConfigDict becomes a plain dict."""
    impl = config.get('conv_impl', 'auto')
    return impl.to_dict() if hasattr(impl, 'to_dict') else impl


def build_run(
    config: Any,
    num_train: int,
    num_classes: int,
    mesh: Mesh | None = None,
    *,
    evaluation_only: bool = False,
) -> Run:
    """Assembles the run `config` describes, abstractly: no array is allocated, nothing traced.

    Args:
      config: the run's config (fields checked by `plan.check_fields` already).
      num_train: examples in the train split (steps per epoch, the schedule).
      num_classes: classes of the data set.
      mesh: the device mesh; None: `parallel.make_mesh(config.num_devices)`.
      evaluation_only: no optimizer (`optax.identity()`, so the state holds no slots) and no
        train step: for weights that are only evaluated.

    Returns:
      The `Run`; its `state.init()` makes the arrays.

    Raises:
      ValueError: a bad config value or batch (`make_plan`), an unknown model or options it
        does not take (`create_train_state`); one line each.
    """
    mesh = mesh if mesh is not None else parallel.make_mesh(config.num_devices)
    replicated = parallel.replicated(mesh)
    plan = make_plan(config, num_train, mesh.size, jax.process_count())
    schedule = optim.learning_rate_schedule(config, plan)
    tx = optax.identity() if evaluation_only else optim.make_optimizer(config, schedule)
    state = train_step.create_train_state(config, num_classes, plan.dtype, tx, replicated)
    impl = _conv_impl(config)
    step = None
    if not evaluation_only:
        jitted = train_step.make_train_step(
            state.graphdef, replicated, **train_step.step_options(config)
        )
        step = InForm(jitted, impl)
    name, options = model_options(config)
    return Run(
        config=config,
        model_name=name,
        model_options=options,
        num_classes=num_classes,
        plan=plan,
        schedule=schedule,
        optimizer=tx,
        state=state,
        train_step=step,
        eval_step=InForm(train_step.make_eval_step(state.eval_graphdef, replicated), impl),
        mesh=mesh,
        replicated=replicated,
        batch_sharded=parallel.batch_sharded(mesh),
        conv_impl=impl,
    )


def synthetic_batch(run: Run, image_shape: Sequence[int]) -> dict[str, jax.Array]:
    """One global batch of standard-normal images and uniform labels, sharded as training shards
    its batches: for timing the step, whose time does not depend on the pixels.

    Args:
      run: the run (its global batch, classes and mesh).
      image_shape: (H, W, C) of one image.
    """
    rng = np.random.default_rng(0)
    batch = run.plan.global_batch
    return jax.device_put(
        {
            'image': rng.standard_normal((batch, *image_shape), np.float32),
            'label': rng.integers(0, run.num_classes, batch).astype(np.int32),
        },
        run.batch_sharded,
    )
