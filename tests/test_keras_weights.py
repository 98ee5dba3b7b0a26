"""keras.applications weights imported into lineage give Keras's logits (lineage.weights.keras).

No published weights here (no network): each test builds the Keras network with
`weights=None`, re-draws every kernel He-normal and every BatchNorm statistic at random (Keras's
own initializers shrink the activations until a padding difference hides below 1e-6 of the
logits), saves the weights to a file, imports the file and compares eval-mode logits on a small
input whose grids are even where a stride-2 'same' layer reads them.
"""

import numpy as np
import pytest
from flax import nnx

from lineage import import_weights
from lineage.weights import keras as keras_weights

TOLERANCE = 1e-5  # max |lineage - Keras| over the largest |Keras logit|
NUM_CLASSES = 10


def randomize(keras_model, seed=0):
    """He-normal kernels, random biases and BatchNorm statistics (scale, offset, mean, var)."""
    rng = np.random.default_rng(seed)
    for layer in keras_model.layers:
        for w in layer.weights:
            shape = tuple(w.shape)
            if 'kernel' in w.name:  # a depthwise kernel's fan-in is its window alone
                depthwise = w.name == 'depthwise_kernel' or 'Depthwise' in type(layer).__name__
                fan_in = np.prod(shape[:2] if depthwise else shape[:-1])
                value = rng.normal(0, np.sqrt(2 / fan_in), shape)
            elif w.name in ('gamma', 'moving_variance'):
                value = rng.uniform(0.5, 1.5, shape)
            else:  # beta, moving_mean, bias
                value = rng.normal(0, 0.2, shape)
            w.assign(value.astype(np.float32))


@pytest.mark.parametrize(
    'name,size,options',
    [
        ('mobilenet_v1', 32, {'alpha': 0.5}),
        ('mobilenet_v2', 32, {}),
        ('resnet50', 32, {}),
        ('inception_v3', 75, {}),  # Keras's smallest; every grid here is 'valid'
        ('xception', 75, {}),  # 75 -> 37 -> 35 -> 18: block3_pool reads an even grid
    ],
)
def test_keras_logits_equal(name, size, options, tmp_path):
    keras_model = keras_weights.build_keras(name, NUM_CLASSES, (size, size, 3), **options)
    randomize(keras_model)
    path = str(tmp_path / f'{name}.weights.h5')
    keras_model.save_weights(path)
    model, _ = import_weights.import_keras(name, path, NUM_CLASSES, **options)
    images = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    expected = np.asarray(keras_model(images, training=False))
    model.eval()
    got = np.asarray(nnx.jit(lambda m, x: m(x))(model, images))
    diff = np.abs(got - expected).max() / np.abs(expected).max()
    print(f'{name} at {size}: max |lineage - keras| / max |keras| = {diff:.2e}')
    assert diff < TOLERANCE
