"""keras.applications weights -> lineage models: the layer-name mapping of five networks.

The Keras model is built by keras.applications (`weights=None`) and loads the file itself, so
both formats read: the `.h5` files keras.applications publishes (matched to layers by order)
and Keras 3 `.weights.h5`. Its layers' arrays then go into the lineage model built with the
`convention='keras'` preset (`lineage.models.convention_presets`), each by name, except the
layers Keras leaves unnamed (Xception's shortcut convs, every conv of Inception v3), which are
matched in the order Keras created them. Three conversions are exact: a depthwise kernel
`(kh, kw, C, m)` becomes lineage's grouped HWIO `(kh, kw, 1, C * m)`; a BatchNorm without scale
(Inception v3) gets scale 1; a conv bias before BatchNorm (ResNet50) folds into the BatchNorm mean,
`BN(conv(x) + b)` with mean `mu` being `BN(conv(x))` with mean `mu - b`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from flax import nnx

from lineage.blocks.factorized import SplitConv
from lineage.models.registry import model_info
from lineage.weights.transfer import Transfer, TransferError

# Keras's backend for reading weights and for `--check`. TensorFlow builds and runs these
# networks eagerly; the jax backend compiles each layer's initializer, minutes on 2 CPU cores.
KERAS_BACKEND = 'tensorflow'


def keras_module() -> Any:
    """`keras`, imported on `KERAS_BACKEND` unless the process already imported it."""
    if 'keras' not in sys.modules:
        os.environ['KERAS_BACKEND'] = KERAS_BACKEND
    import keras

    return keras


def build_keras(
    name: str, num_classes: int, input_shape: tuple[int, int, int] | None = None, alpha=1.0
) -> Any:
    """keras.applications' network `name` (logits out, random weights).

    Args:
      name: a lineage model name in `MAPPINGS` (its keras.applications constructor is its
        `ModelInfo.keras`).
      num_classes: classifier outputs.
      input_shape: `(H, W, 3)`; None takes the network's default size.
      alpha: the MobileNets' width multiplier.
    """
    if name not in MAPPINGS:
        raise ValueError(f'no Keras mapping for {name!r}; choose one of {", ".join(MAPPINGS)}')
    keras = keras_module()
    options = dict(
        weights=None, classes=num_classes, classifier_activation=None, input_shape=input_shape
    )
    if name.startswith('mobilenet'):
        options['alpha'] = alpha
    return getattr(keras.applications, model_info(name).keras)(**options)


def read_weights(keras_model: Any) -> dict[tuple[str, str], np.ndarray]:
    """`{(layer name, weight name): array}` of every weight of every layer."""
    return {
        (layer.name, w.name): np.asarray(w.numpy())
        for layer in keras_model.layers
        for w in layer.weights
    }


def _auto_named(keras_model: Any, prefix: str) -> list[str]:
    """Layers Keras named `prefix`, `prefix_1`, ...: in the order it created them."""
    found = [
        (int(m.group(1) or 0), layer.name)
        for layer in keras_model.layers
        if (m := re.fullmatch(rf'{prefix}(?:_(\d+))?', layer.name))
    ]
    return [name for _, name in sorted(found)]


# -- the layer kinds ---------------------------------------------------------------------------


def _kernel(t: Transfer, path, layer: str, weight: str = 'kernel', depthwise=False) -> None:
    kernel = t.take(layer, weight)
    if depthwise:  # (kh, kw, C, m) -> (kh, kw, 1, C * m): output channel c * m + j
        kh, kw, c, m = kernel.shape
        kernel = kernel.reshape(kh, kw, 1, c * m)
    t.put((*path, 'kernel'), kernel, f'{layer}/{weight}')


def _norm(t: Transfer, path, layer: str, conv_bias: np.ndarray | None = None) -> None:
    mean = t.take(layer, 'moving_mean')
    if conv_bias is not None:
        mean = mean - conv_bias
    scale = t.take(layer, 'gamma') if t.has(layer, 'gamma') else np.ones_like(mean)
    for weight, value in (('scale', scale), ('bias', t.take(layer, 'beta')), ('mean', mean)):
        t.put((*path, 'norm', weight), value, f'{layer}/{weight}')
    t.put((*path, 'norm', 'var'), t.take(layer, 'moving_variance'), f'{layer}/moving_variance')


def _conv_bn(t: Transfer, path, conv: str, bn: str, depthwise=False) -> None:
    _kernel(t, path, conv, depthwise=depthwise)
    _norm(t, path, bn, t.take(conv, 'bias') if t.has(conv, 'bias') else None)


def _dense(t: Transfer, path, layer: str) -> None:
    kernel = t.take(layer, 'kernel')  # MobileNet's 1x1 conv classifier: (1, 1, in, out)
    t.put((*path, 'linear', 'kernel'), kernel.reshape(-1, kernel.shape[-1]), f'{layer}/kernel')
    t.put((*path, 'linear', 'bias'), t.take(layer, 'bias'), f'{layer}/bias')


# -- the networks ------------------------------------------------------------------------------


def _xception(t: Transfer, keras_model: Any, model: nnx.Module) -> None:
    _conv_bn(t, ('stem', 0), 'block1_conv1', 'block1_conv1_bn')
    _conv_bn(t, ('stem', 1), 'block1_conv2', 'block1_conv2_bn')
    blocks = [('entry', i) for i in range(len(model.entry))]
    blocks += [('middle', i) for i in range(len(model.middle))] + [('exit',)]
    convs = _auto_named(keras_model, 'conv2d')
    shortcuts = iter(zip(convs, _auto_named(keras_model, 'batch_normalization'), strict=True))
    for number, path in enumerate(blocks, start=2):
        block = model
        for key in path:
            block = block[key] if isinstance(key, int) else getattr(block, key)
        for j in range(len(block.convs)):
            name = f'block{number}_sepconv{j + 1}'
            _sep(t, (*path, 'convs', j), name)
        if block.shortcut is not None:
            conv, bn = next(shortcuts)
            _conv_bn(t, (*path, 'shortcut'), conv, bn)
    for j in range(len(model.exit_convs)):
        _sep(t, ('exit_convs', j), f'block14_sepconv{j + 1}')
    _dense(t, ('head', 'fc'), 'predictions')


def _sep(t: Transfer, path, name: str) -> None:
    """Keras `SeparableConv2D` + BatchNorm -> lineage `SeparableConv` (no mid norm)."""
    _kernel(t, (*path, 'depthwise'), name, 'depthwise_kernel', depthwise=True)
    _kernel(t, (*path, 'pointwise'), name, 'pointwise_kernel')
    _norm(t, (*path, 'pointwise'), f'{name}_bn')


def _inception_v3(t: Transfer, keras_model: Any, model: nnx.Module) -> None:
    paths = [('stem', i) for i in range(len(model.stem))]
    for m, module in enumerate(model.mixed):
        for i, tower in enumerate(module.towers):
            for j, layer in enumerate(tower.layers):
                at = ('mixed', m, 'towers', i, 'layers', j)
                paths += [(*at, 'row'), (*at, 'col')] if isinstance(layer, SplitConv) else [at]
        if module.pool.proj is not None:
            paths.append(('mixed', m, 'pool', 'proj'))
    convs = _auto_named(keras_model, 'conv2d')
    norms = _auto_named(keras_model, 'batch_normalization')
    if not len(paths) == len(convs) == len(norms):
        raise TransferError(
            f'lineage inception_v3 has {len(paths)} convs, the Keras model {len(convs)}; '
            'build it with the default options (no aux_logits)'
        )
    for path, conv, bn in zip(paths, convs, norms, strict=True):
        _conv_bn(t, path, conv, bn)
    _dense(t, ('head', 'fc'), 'predictions')


def _mobilenet_v1(t: Transfer, keras_model: Any, model: nnx.Module) -> None:
    del keras_model
    _conv_bn(t, ('stem',), 'conv1', 'conv1_bn')
    for i in range(len(model.layers)):
        n = i + 1
        _conv_bn(t, ('layers', i, 'depthwise'), f'conv_dw_{n}', f'conv_dw_{n}_bn', depthwise=True)
        _conv_bn(t, ('layers', i, 'pointwise'), f'conv_pw_{n}', f'conv_pw_{n}_bn')
    _dense(t, ('head', 'fc'), 'conv_preds')


def _mobilenet_v2(t: Transfer, keras_model: Any, model: nnx.Module) -> None:
    del keras_model
    _conv_bn(t, ('stem',), 'Conv1', 'bn_Conv1')
    for i, block in enumerate(model.blocks):
        prefix = 'expanded_conv_' if i == 0 else f'block_{i}_'
        if block.expand is not None:
            _conv_bn(t, ('blocks', i, 'expand'), f'{prefix}expand', f'{prefix}expand_BN')
        _conv_bn(t, ('blocks', i, 'depthwise'), f'{prefix}depthwise', f'{prefix}depthwise_BN', True)
        _conv_bn(t, ('blocks', i, 'project'), f'{prefix}project', f'{prefix}project_BN')
    _conv_bn(t, ('last_conv',), 'Conv_1', 'Conv_1_bn')
    _dense(t, ('head', 'fc'), 'predictions')


def _resnet50(t: Transfer, keras_model: Any, model: nnx.Module) -> None:
    del keras_model
    _conv_bn(t, ('stem',), 'conv1_conv', 'conv1_bn')
    index = 0
    for stage, depth in enumerate(model.depths):
        for j in range(depth):
            name = f'conv{stage + 2}_block{j + 1}'
            for part, k in (('reduce', 1), ('conv', 2), ('expand', 3), ('shortcut', 0)):
                if part != 'shortcut' or model.blocks[index].shortcut is not None:
                    _conv_bn(t, ('blocks', index, part), f'{name}_{k}_conv', f'{name}_{k}_bn')
            index += 1
    _dense(t, ('head', 'fc'), 'predictions')


MAPPINGS: dict[str, Callable[[Transfer, Any, nnx.Module], None]] = {
    'xception': _xception,
    'inception_v3': _inception_v3,
    'mobilenet_v1': _mobilenet_v1,
    'mobilenet_v2': _mobilenet_v2,
    'resnet50': _resnet50,
}


def transfer(name: str, keras_model: Any, model: nnx.Module) -> None:
    """Copies `keras_model`'s weights into the lineage `model` (built with convention='keras').

    Raises:
      TransferError: one line naming a shape mismatch, a lineage array left unassigned or a
        Keras weight left unused.
    """
    t = Transfer(read_weights(keras_model), model)
    MAPPINGS[name](t, keras_model, model)
    t.finish(model)
