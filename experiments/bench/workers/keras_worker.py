"""Keras 3 applications' train step on the JAX backend, timed: the other peer.

    KERAS_BACKEND=jax .venv-peers/bin/python -m experiments.bench.workers.keras_worker \
        --network=resnet50 --peer_model=ResNet50 --image_size=32 --batch_size=128

`keras.applications` model of the same architecture (`--peer_model`, which
experiments/train_benchmark.py takes from lineage's `ModelInfo.keras`; `weights=None`), float32,
channels_last, compiled with sparse categorical cross-entropy and SGD with momentum and
`jit_compile=True`; one `train_on_batch` per step (Keras's own jitted train step).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault('KERAS_BACKEND', 'jax')

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from experiments.bench.workers import protocol  # noqa: E402


def main() -> None:
    args = protocol.parse_args(__doc__.splitlines()[0])
    if not args.peer_model:
        raise ValueError(f'no keras.applications model for {args.network!r} (its ModelInfo.keras)')
    if keras.backend.backend() != 'jax':
        raise ValueError(f'KERAS_BACKEND is {keras.backend.backend()!r}; set KERAS_BACKEND=jax')
    keras.utils.set_random_seed(0)
    start, cpu = time.perf_counter(), time.process_time()
    model = getattr(keras.applications, args.peer_model)(
        weights=None,
        input_shape=(args.image_size, args.image_size, 3),
        classes=args.num_classes,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(args.learning_rate, momentum=args.momentum),
        loss='sparse_categorical_crossentropy',
        jit_compile=True,
    )
    init_s, init_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch_size, args.image_size, args.image_size, 3), np.float32)
    labels = rng.integers(0, args.num_classes, args.batch_size).astype(np.int32)

    def one_step():
        return model.train_on_batch(images, labels)  # returns the loss on the host: blocks

    protocol.time_and_emit(
        args,
        'keras',
        one_step,
        (init_s, init_cpu_s),
        params=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        version=f'keras {keras.__version__}, jax {jax.__version__}',
    )


if __name__ == '__main__':
    main()
