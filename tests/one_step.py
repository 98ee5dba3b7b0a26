"""Programs compiled to run once, cheap enough for the suite (shared by block and model tests).

The block or network is the subject, not its initializer or its conv forms: kernels are drawn
He-normal with numpy (compiling the models' own initializers costs more than the step), and
programs are traced with plain `lax.conv`, which compiles in about half the time of `auto`'s
forms (with XLA's cheapest CPU code generation, as the whole suite: tests/conftest.py). Every
form is checked exact against `lax.conv` in outputs and gradients in tests/test_conv_algorithms.py.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lineage.blocks import conv_algorithms
from lineage.models import build_model


def run_once(fn, *args):
    """`jax.jit(fn)(*args)` with `lax.conv` convs."""
    with conv_algorithms.conv_impl('xla'):
        return jax.jit(fn)(*args)


def forward(module: nnx.Module, x: jax.Array) -> jax.Array:
    """`module(x)`, compiled once; the module itself is left as it was."""
    graphdef, state = nnx.split(module)
    return run_once(lambda state, x: nnx.merge(graphdef, state)(x), state, x)


def gradients(module: nnx.Module, x: jax.Array) -> nnx.State:
    """The gradient of mean(module(x)^2) with respect to the module's parameters."""
    graphdef, state = nnx.split(module)

    def grad(state, x):
        return nnx.grad(lambda m: jnp.mean(m(x) ** 2))(nnx.merge(graphdef, state))

    return run_once(grad, state, x)


def host_init(name: str, num_classes: int = 10, **options) -> nnx.Module:
    """Model `name` with He-normal kernels from numpy, unit scales and variances, zero the rest."""
    abstract = nnx.eval_shape(
        lambda: build_model(name, num_classes=num_classes, rngs=nnx.Rngs(0), **options)
    )
    graphdef, state = nnx.split(abstract)
    rng = np.random.default_rng(0)

    def init(path, leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.key(0)  # dropout's stream
        if jnp.issubdtype(leaf.dtype, jnp.integer):
            return jnp.zeros(leaf.shape, leaf.dtype)
        kind = path[-2].key
        if kind == 'kernel':
            std = math.sqrt(2 / math.prod(leaf.shape[:-1]))
            return jnp.asarray(rng.normal(0.0, std, leaf.shape), leaf.dtype)
        return (jnp.ones if kind in ('scale', 'var') else jnp.zeros)(leaf.shape, leaf.dtype)

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(init, state))


def cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def sgd_step(model, learning_rate, x, y, loss_fn=None):
    """One plain-SGD step in train mode: (loss before, loss after, grads, the updated model).

    Losses and grads come back as numpy, so that checking hundreds of leaves compiles nothing.

    `loss_fn(model, x, y)` defaults to cross-entropy of the model's logits. The loss after is
    the same function of the new weights (callers pass models without dropout to compare them),
    read from a second run of the compiled step: a second forward inside it would double the
    compile.
    """
    loss_fn = loss_fn or (lambda m, x, y: cross_entropy(m(x), y))
    model.train()
    optimizer = nnx.Optimizer(model, optax.sgd(learning_rate), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))

    def step(state, x, y):
        model, optimizer = nnx.merge(graphdef, state)
        loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss, grads, nnx.state((model, optimizer))

    loss, grads, new_state = run_once(step, state, x, y)
    loss_after, _, _ = run_once(step, new_state, x, y)  # jax.jit's cache: no second compile
    new_model, _ = nnx.merge(graphdef, new_state)
    return float(loss), float(loss_after), jax.device_get(grads), new_model
