"""The model registry: every network by name, with its metadata.

`@register_model('name', input_size=224, paper='...')` on a constructor called as
`fn(num_classes=..., rngs=..., dtype=None, **options)`. Every network takes `num_classes` (the
classifier's outputs), `in_channels` (the image's channels, 3 by default), `dtype` (the
computation dtype; parameters stay float32) and `rngs` (`nnx.Rngs` for initialization, and the
dropout stream where it has dropout). The metadata (`ModelInfo`, lineage/models/info.py) is the
one place each network's facts live: its input size, paper, exact parameter count, published
figures and the Keras and timm names of the same architecture. The summary CLI, the Keras
weights mapping, the benchmark workers, the model table and the count tests read it.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from typing import Any

from flax import nnx

from lineage.models.info import ModelInfo
from lineage.registry import Registry

ModelBuilder = Callable[..., nnx.Module]


MODELS: Registry[ModelBuilder] = Registry('model', 'lineage.models')
model_names = MODELS.names


def register_model(name: str, **info: Any) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering a model constructor under `name` (names are unique), with its
    facts: the fields of `ModelInfo` as keywords (`input_size`, `paper`, `params` required)."""
    return MODELS.register(name, ModelInfo(**info))


def model_info(name: str) -> ModelInfo:
    """The metadata of the model registered as `name`.

    Raises:
      ValueError: one line naming the unknown model and listing the choices.
    """
    return MODELS.info(name)


def build_model(name: str, *, num_classes: int, rngs: nnx.Rngs, **options: Any) -> nnx.Module:
    """Builds the model registered as `name`.

    Raises:
      ValueError: one line naming the unknown model and listing the choices.
    """
    return MODELS.get(name)(num_classes=num_classes, rngs=rngs, **options)


_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), 'configs')


def unknown_options(name: str, options: dict[str, Any], num_classes: int) -> list[str]:
    """The keys of `options` that model `name` does not take, in the order its build rejects them.

    Found by building the model abstractly (no arrays) and dropping each option a
    `TypeError: ... unexpected keyword argument` names, as constructors pass options on
    through `**options`.
    """
    options, unknown = dict(options), []
    while True:
        try:
            nnx.eval_shape(
                lambda: build_model(name, num_classes=num_classes, rngs=nnx.Rngs(0), **options)
            )
            return unknown
        except TypeError as e:
            found = _UNEXPECTED.search(str(e))
            if not found or found.group(1) not in options:
                return unknown
            unknown.append(found.group(1))
            del options[found.group(1)]


def configs_for(name: str) -> list[str]:
    """The files of configs/ (in a clone) that set `config.model.name` to `name`."""
    pattern = re.compile(rf"""(['"]name['"]:\s*|model\.name\s*=\s*)['"]{re.escape(name)}['"]""")
    paths = sorted(glob.glob(os.path.join(CONFIGS_DIR, '*.py')))
    found = []
    for path in paths:
        with open(path) as f:
            if pattern.search(f.read()):
                found.append(os.path.join('configs', os.path.basename(path)))
    return found


def options_error(name: str, unknown: list[str]) -> ValueError:
    """One line naming the options model `name` does not take, and a config written for it."""
    fits = configs_for(name)
    fix = (
        f'use a config written for it, e.g. --config={fits[0]}'
        if fits
        else ('remove them from config.model')
    )
    options = ', '.join(f'--config.model.{k}' for k in unknown)
    return ValueError(f'model {name!r} does not take {options} (options of another model); {fix}')
