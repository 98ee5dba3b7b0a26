"""Convention presets: one model option, `convention`, that sets every option a framework needs.

A model built from another framework's weights must follow that framework's arithmetic (see
`lineage.blocks.framework_convention`) and a few of its layer choices (Keras's ResNet50 strides
the first 1x1, its MobileNet uses ReLU6). Each model file holds its presets, e.g.

    KERAS = {'padding': 'same_tf', 'bn_epsilon': 1e-3, 'act': 'relu6'}

and builds through `build`, so `--config.model.convention=keras` sets them all. `padding` and
`bn_epsilon` are options of every model built here; an option given explicitly must agree with
the preset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flax import nnx

from lineage.blocks import framework_convention


def build(
    cls: Callable[..., nnx.Module], presets: Mapping[str, Mapping[str, Any]], **options: Any
) -> nnx.Module:
    """Builds `cls(**options)` under the convention that `options` and its preset name.

    Args:
      cls: the model class.
      presets: convention name -> options, the model's `PRESETS`.
      **options: the model's options, plus `convention` (a preset name or None), `padding`
        ('symmetric' or 'same_tf') and `bn_epsilon`.

    Raises:
      ValueError: an unknown preset, or an option that contradicts it (one line each).
    """
    name = options.pop('convention', None)
    if name is not None:
        if name not in presets:
            raise ValueError(
                f'convention={name!r} is not defined for {cls.__name__}; choose one of '
                f'{", ".join(sorted(presets)) or "(none)"} or leave it unset'
            )
        for key, value in presets[name].items():
            if key in options and options[key] != value:
                raise ValueError(
                    f'{cls.__name__}: {key}={options[key]!r} contradicts convention={name!r} '
                    f'({key}={value!r}); drop one of the two'
                )
            options[key] = value
    default = framework_convention.Convention()
    chosen = framework_convention.Convention(
        options.pop('padding', default.padding), options.pop('bn_epsilon', default.bn_epsilon)
    )
    with framework_convention.building(chosen):
        return cls(**options)
