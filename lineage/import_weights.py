"""Imports published weights into a lineage model, writes them for training and evaluation.

    python -m lineage.import_weights --source=keras --model=xception \
        --weights=xception_weights_tf_dim_ordering_tf_kernels.h5 --output=weights/xception --check

Reads a keras.applications weights file (the published `.h5`, or a Keras 3 `.weights.h5`) into
the lineage model built with `convention='keras'` (`lineage.weights.keras`) and writes its
parameters and BatchNorm statistics to `--output` (`lineage.weights.saved_model`), which
`--config.init_from` and `lineage.evaluate` read. A lineage array left unassigned, a Keras
weight left unused or a shape mismatch ends it with one line.

`--check` runs both networks in inference mode on a random batch (uniform in [-1, 1]) and
prints the largest logit difference over the largest |logit|; above `--tolerance` (1e-4) it
exits non-zero and nothing is written.
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from flax import nnx  # noqa: E402

from lineage.models import build_model  # noqa: E402
from lineage.models.registry import model_info  # noqa: E402
from lineage.weights import keras as keras_weights  # noqa: E402
from lineage.weights import saved_model  # noqa: E402

SOURCES = ('keras',)


def keras_options(name: str, alpha: float) -> dict:
    """The lineage options that match the Keras network."""
    options = {'convention': 'keras'}
    if name.startswith('mobilenet'):
        options['alpha'] = alpha
    return options


def build_unfilled(name: str, num_classes: int, **options) -> nnx.Module:
    """The lineage model with abstract parameters and BatchNorm statistics, for a transfer to fill.

    Its other state (the dropout RNG stream) is real: computed under jit, where XLA drops the
    random initializers of the arrays the weights will replace (eager initialization compiles
    each one, about a minute for Xception on 2 CPU cores).
    """

    def build():
        return build_model(name, num_classes=num_classes, rngs=nnx.Rngs(0), **options)

    model = nnx.eval_shape(build)
    weights = nnx.Any(nnx.Param, nnx.BatchStat)
    nnx.update(model, jax.jit(lambda: nnx.state(build(), nnx.Not(weights)))())
    return model


def relative_difference(model: nnx.Module, keras_model, size: int, batch: int = 2) -> float:
    """max |lineage - Keras| / max |Keras| over the logits of a random batch, inference mode."""
    images = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    expected = np.asarray(keras_model(images, training=False))
    model.eval()
    got = np.asarray(nnx.jit(lambda m, x: m(x))(model, images))
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def import_keras(
    name: str, weights: str, num_classes: int, alpha: float = 1.0, image_size: int = 0
):
    """(lineage model, Keras model), both holding the weights of `weights`; the Keras model
    takes `image_size` inputs (0: the network's default).

    Raises:
      ValueError: the file is missing or does not load into the Keras network (one line).
      TransferError: the weights do not fill the lineage model exactly (one line).
    """
    if not os.path.isfile(weights):
        raise ValueError(f'--weights={weights} is not a file; pass a Keras .h5 or .weights.h5')
    size = image_size or model_info(name).input_size
    keras_model = keras_weights.build_keras(name, num_classes, (size, size, 3), alpha=alpha)
    # Keras warns once per layer it cannot match (a hundred lines) before it raises: held back,
    # so that a file of another network ends in one line; a file that loads hears them.
    with warnings.catch_warnings(record=True) as heard:
        try:
            keras_model.load_weights(weights)
        except Exception as e:  # noqa: BLE001 (Keras raises many kinds; all mean: not this model)
            reason = ' '.join(str(e).split())[:200]
            flags_to_check = '--model, --alpha' if name.startswith('mobilenet') else '--model'
            raise ValueError(
                f'{weights} does not load into keras.applications {name} with {num_classes} '
                f'classes ({type(e).__name__}: {reason}); check {flags_to_check} and --num_classes'
            ) from None
    for w in heard:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    model = build_unfilled(name, num_classes, **keras_options(name, alpha))
    keras_weights.transfer(name, keras_model, model)
    return model, keras_model


def run(
    name: str,
    weights: str,
    output: str,
    *,
    num_classes: int = 1000,
    alpha: float = 1.0,
    check: bool = False,
    image_size: int = 0,
    tolerance: float = 1e-4,
) -> float | None:
    """Imports, checks (optionally) and writes; returns the checked difference (None: no check).

    Raises:
      ValueError: one line on a bad file, a mapping that does not fit, a difference above
        `tolerance`, an output directory in use or a file at `output`; nothing is written then.
    """
    # Before the work, not after.
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f'{os.path.abspath(output)} is a file; pass a new --output directory')
    if os.path.isdir(output) and os.listdir(output):
        raise ValueError(f'{os.path.abspath(output)} is not empty; pass a new --output directory')
    model, keras_model = import_keras(name, weights, num_classes, alpha, image_size)
    diff = None
    if check:
        size = image_size or model_info(name).input_size
        diff = relative_difference(model, keras_model, size)
        print(f'{name}: max |lineage - keras| / max |keras logit| = {diff:.2e} at {size}x{size}')
        if not diff <= tolerance:
            raise ValueError(f'logits differ by {diff:.2e} > {tolerance:g}; nothing written')
    fingerprint = {
        'model': name,
        'options': keras_options(name, alpha),
        'num_classes': num_classes,
        'source': 'keras',
        'weights': os.path.abspath(weights),
    }
    saved_model.save(output, model, fingerprint)
    print(f'wrote {name} weights to {os.path.abspath(output)}')
    return diff


def define_flags() -> None:
    """The command's flags, defined when it runs (not at import: lineage.summary has --model)."""
    flags.DEFINE_enum('source', 'keras', SOURCES, 'Where the weights come from.')
    flags.DEFINE_enum('model', None, sorted(keras_weights.MAPPINGS), 'Network.')
    flags.DEFINE_string('weights', None, 'The weights file (.h5 or .weights.h5).')
    flags.DEFINE_string('output', None, 'New directory for the imported weights.')
    flags.DEFINE_integer('num_classes', 1000, 'Classes of the weights file.')
    flags.DEFINE_float('alpha', 1.0, "The MobileNets' width multiplier.")
    flags.DEFINE_bool('check', False, 'Compare logits with Keras on a random batch.')
    flags.DEFINE_integer('image_size', 0, '--check input size; 0: the default.')
    flags.DEFINE_float('tolerance', 1e-4, '--check: largest relative difference.')


def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    for flag in ('model', 'weights', 'output'):
        if not f[flag].value:
            sys.exit(f'import_weights: --{flag} is required')
    try:
        run(
            f.model,
            f.weights,
            f.output,
            num_classes=f.num_classes,
            alpha=f.alpha,
            check=f.check,
            image_size=f.image_size,
            tolerance=f.tolerance,
        )
    except ValueError as e:  # TransferError included
        sys.exit(f'import_weights: {e}')


if __name__ == '__main__':
    define_flags()
    app.run(main)
