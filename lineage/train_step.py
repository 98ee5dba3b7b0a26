"""The train state and the two jitted steps (train, eval), in NNX's functional form.

The state is `nnx.state((model, optimizer))`: one pytree of arrays holding parameters,
BatchNorm statistics, the dropout RNG stream and the optimizer state with its step count. Each
step is a pure `jax.jit` function of (state, batch) that rebuilds the modules with
`nnx.merge`, so no Python object crosses the jit boundary and nothing is re-traced per step
(flax `guides/performance.md`). The train step donates the state: its buffers are reused for the
new state, so a step needs one copy of the parameters and optimizer state, not two.

Eval uses a second graph definition of the same model, taken after `model.eval()`: BatchNorm
uses its running averages and dropout is off, with the same state arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import NamedSharding

from lineage import ema
from lineage.models import build_model
from lineage.models.registry import options_error, unknown_options
from lineage.plan import model_options


def cross_entropy(logits: jax.Array, labels: jax.Array, smoothing: float = 0.0) -> jax.Array:
    """Per-example softmax cross-entropy against integer labels, with label smoothing.

    Smoothing mixes the one-hot target with the uniform one (Szegedy et al. 2016, Inception v3
    section 7): target = (1 - smoothing) * one_hot + smoothing / num_classes.
    """
    targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    if smoothing:
        targets = optax.smooth_labels(targets, smoothing)
    return optax.softmax_cross_entropy(logits, targets)


@dataclasses.dataclass(frozen=True)
class TrainState:
    """How to rebuild and step the modules whose arrays live in the state pytree.

    Attributes:
      graphdef: structure of `(model, optimizer)` in train mode, `(model, optimizer, shadow)`
        with a parameter average (`lineage.ema`).
      eval_graphdef: structure of the model alone in eval mode.
      abstract: shapes, dtypes and (replicated) shardings of the state.
      model: the abstract model (no arrays), for counting parameters and MACs.
      init: `() -> state`, the freshly initialized state, placed replicated.
    """

    graphdef: Any
    eval_graphdef: Any
    abstract: Any
    model: nnx.Module
    init: Callable[[], Any]


def create_train_state(
    config: Any,
    num_classes: int,
    dtype: Any,
    tx: optax.GradientTransformation,
    replicated: NamedSharding,
) -> TrainState:
    """Builds the model and optimizer abstractly; the arrays come from `init` or a checkpoint.

    Raises:
      ValueError: an unknown model (listing the choices) or block, or options the model does
        not take (naming them and a config written for the model).
    """
    name, options = model_options(config)

    def build():
        rngs = nnx.Rngs(config.seed)
        model = build_model(name, num_classes=num_classes, rngs=rngs, dtype=dtype, **options)
        parts = (model, nnx.Optimizer(model, tx, wrt=nnx.Param))
        # The parameter average starts as a copy of the initial model.
        return (*parts, nnx.clone(model)) if config.get('ema_decay') else parts

    try:
        model, *rest = nnx.eval_shape(build)
    except TypeError:
        unknown = unknown_options(name, options, num_classes)
        if not unknown:
            raise
        raise options_error(name, unknown) from None
    graphdef, abstract = nnx.split((model, *rest))
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), abstract
    )
    model.eval()
    eval_graphdef = nnx.graphdef(model)
    # Initialized inside jit straight into its sharding: no host copy of a large model. On CPU,
    # XLA's optimizing backend takes seconds per random initializer (threefry), for a function
    # run once, so it is compiled unoptimized (experiments/results/init_compile.md).
    on_cpu = replicated.mesh.devices.flat[0].platform == 'cpu'
    init = jax.jit(
        lambda: nnx.state(build()),
        out_shardings=replicated,
        compiler_options={'xla_backend_optimization_level': 0} if on_cpu else None,
    )
    return TrainState(graphdef, eval_graphdef, abstract, model, init)


def eval_part(state: Any) -> Any:
    """The model state evaluation reads: the parameter average when the run keeps one."""
    return state[2] if 2 in state else state[0]


def step_options(config: Any) -> dict[str, float]:
    """`make_train_step`'s keyword options as `config` sets them."""
    return {
        'label_smoothing': config.label_smoothing,
        'aux_loss_weight': config.get('aux_loss_weight', 0.0),
        'ema_decay': config.get('ema_decay', 0.0),
    }


def make_train_step(
    graphdef: Any,
    replicated: NamedSharding,
    *,
    label_smoothing: float = 0.0,
    aux_loss_weight: float = 0.0,
    ema_decay: float = 0.0,
) -> Callable[[Any, dict[str, jax.Array]], tuple[Any, dict[str, jax.Array]]]:
    """`(state, batch) -> (state, {'loss', 'accuracy'})`: one SGD step on the global batch.

    The batch arrives sharded over the mesh and the state replicated; XLA partitions the step
    and all-reduces the gradients. The state argument is donated. A model with auxiliary
    classifiers (GoogLeNet, Inception v3 with `aux_logits=True`) returns `(logits, *aux)` in
    training mode: each auxiliary loss joins the loss with weight `aux_loss_weight`, and the
    accuracy is the main head's. With `ema_decay` > 0 the state holds a parameter average
    (`lineage.ema`), updated after the optimizer.
    """

    def step(state, batch):
        model, optimizer, *shadow = nnx.merge(graphdef, state)
        updates_before = optimizer.step[...]

        def loss_fn(model):
            outputs = model(batch['image'])
            logits, *aux = outputs if isinstance(outputs, tuple) else (outputs,)
            loss = cross_entropy(logits, batch['label'], label_smoothing).mean()
            for extra in aux:
                loss += (
                    aux_loss_weight * cross_entropy(extra, batch['label'], label_smoothing).mean()
                )
            return loss, logits

        (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        if shadow:
            ema.update(shadow[0], model, ema_decay, updates_before)
        accuracy = jnp.mean(jnp.argmax(logits, -1) == batch['label'])
        return nnx.state((model, optimizer, *shadow)), {'loss': loss, 'accuracy': accuracy}

    return jax.jit(step, donate_argnums=0, out_shardings=(replicated, replicated))


def make_eval_step(
    eval_graphdef: Any, replicated: NamedSharding
) -> Callable[[Any, dict[str, jax.Array], dict[str, jax.Array]], dict[str, jax.Array]]:
    """`(model_state, batch, totals) -> totals`: adds one batch's masked sums to `totals`.

    Sums (not means) so that padded examples (mask 0) count for nothing and the totals over the
    split are exact; top-5 is counted only with more than 5 classes.
    """

    def step(model_state, batch, totals):
        model = nnx.merge(eval_graphdef, model_state)
        logits = model(batch['image'])
        labels, mask = batch['label'], batch['mask']
        sums = {
            'correct': jnp.sum((jnp.argmax(logits, -1) == labels) * mask),
            'loss': jnp.sum(cross_entropy(logits, labels) * mask),
            'count': jnp.sum(mask),
        }
        if logits.shape[-1] > 5:
            _, top5 = jax.lax.top_k(logits, 5)
            sums['correct_top5'] = jnp.sum(jnp.any(top5 == labels[:, None], -1) * mask)
        return jax.tree.map(jnp.add, totals, sums)

    return jax.jit(step, out_shardings=replicated)


def eval_totals(num_classes: int, replicated: NamedSharding) -> dict[str, jax.Array]:
    """Zeroed totals for `make_eval_step`."""
    keys = ['correct', 'loss', 'count'] + (['correct_top5'] if num_classes > 5 else [])
    return {k: jax.device_put(jnp.zeros((), jnp.float32), replicated) for k in keys}
