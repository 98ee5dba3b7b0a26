"""`--config.init_from=DIR`: start a run from another model's weights, with a fresh optimizer.

DIR is either weights written by `lineage.import_weights` (`lineage.weights.saved_model`) or
the workdir of a lineage run (its latest checkpoint's model, or its parameter average when
the run kept one: parameters and BatchNorm statistics; its optimizer state is left behind).
The model must be the config's: same name, and the same value of every option both name (a
different `convention` changes the arithmetic the weights were trained under). The classifier
alone may differ in its number of classes: it is then initialized afresh, with one line saying
so (fine-tuning on a new label set). A run resuming from its own checkpoint ignores DIR.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from flax import nnx
from jax.sharding import NamedSharding

from lineage.checkpoint import json_form
from lineage.weights import saved_model

Path = tuple[Any, ...]


def _is_classifier(path: Path) -> bool:
    return 'head' in path and 'fc' in path  # ClassifierHead.fc: the main and auxiliary heads


def _from_workdir(directory: str) -> tuple[dict[str, Any], dict[Path, np.ndarray]]:
    """(fingerprint, model arrays by path) of a run's latest checkpoint."""
    checkpoints = os.path.abspath(os.path.join(directory, 'checkpoints'))
    manager = ocp.CheckpointManager(
        checkpoints, options=ocp.CheckpointManagerOptions(read_only=True, create=False)
    )
    try:
        step = manager.latest_step()
        if step is None:
            raise ValueError(f'--config.init_from={directory} holds no checkpoint')
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(), record=ocp.args.JsonRestore()
            ),
        )
    finally:
        manager.close()
    arrays = saved_model.flatten(restored['state'])
    part = 2 if any(path[0] == 2 for path in arrays) else 0  # the parameter average, if kept
    # A checkpoint stores each variable as {'value': array}.
    model = {
        path[1:-1] if path[-1] == 'value' else path[1:]: np.asarray(v)
        for path, v in arrays.items()
        if path[0] == part and not jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key)
    }
    return dict(restored['record']).get('fingerprint', {}), model


def read(directory: str, name: str, options: dict[str, Any]) -> dict[Path, np.ndarray]:
    """The model arrays in `directory`, checked against the config's model.

    Raises:
      ValueError: one line: no weights there, or weights of another model (naming the
        difference).
    """
    if saved_model.is_saved_model(directory):
        found, arrays = saved_model.read_fingerprint(directory), saved_model.restore(directory)
    elif os.path.isdir(os.path.join(directory, 'checkpoints')):
        found, arrays = _from_workdir(directory)
    else:
        raise ValueError(
            f'--config.init_from={directory} holds neither imported weights (model.json) nor a '
            'run (checkpoints/); pass the output of lineage.import_weights or a workdir'
        )
    # Both as JSON: the config's tuples are the saved lists.
    theirs, options = json_form(found.get('options', {})), json_form(options)
    differences = [] if found.get('model') == name else [f'model {found.get("model")!r}']
    keys = (set(theirs) & set(options)) | {'convention'}
    differences += [
        f'{k}={theirs.get(k)!r}' for k in sorted(keys) if theirs.get(k) != options.get(k)
    ]
    if differences:
        mine = ', '.join([f'model {name!r}'] + [f'{k}={options.get(k)!r}' for k in sorted(keys)])
        raise ValueError(
            f'--config.init_from={directory} holds {", ".join(differences)}; this config has '
            f'{mine}: set --config.model to match'
        )
    return arrays


def apply(
    state: Any,
    arrays: dict[Path, np.ndarray],
    directory: str,
    replicated: NamedSharding,
    new_classifier: bool = True,
) -> Any:
    """The train state with its model's parameters and BatchNorm statistics from `arrays`.

    Args:
      state: a freshly initialized train state, `nnx.state((model, optimizer, ...))`.
      arrays: from `read`.
      directory: where they came from, for messages.
      replicated: the state's sharding.
      new_classifier: initialize the classifier afresh when its class count differs (False:
        refuse, as evaluation must).

    Raises:
      ValueError: one line naming an array missing there or of another shape (the classifier
        excepted, which is re-initialized when the number of classes differs, and an auxiliary
        head the weights lack, initialized afresh: imported networks come without one).
    """
    flat = dict(nnx.to_flat_state(state))
    updated, fresh = dict(flat), []
    for (part, *path), variable in flat.items():
        path = tuple(path)
        if part != 0 or not isinstance(variable, (nnx.Param, nnx.BatchStat)):
            continue
        if path not in arrays and path[0] == 'aux':  # a training-time head weights lack
            fresh.append(path)
            continue
        if path not in arrays:
            raise ValueError(
                f'--config.init_from={directory} has no {".".join(map(str, path))}; '
                'was it written for this model and these options?'
            )
        value = arrays[path]
        if value.shape != variable.shape:
            if _is_classifier(path) and new_classifier:
                fresh.append(path)
                continue
            raise ValueError(
                f'--config.init_from={directory}: {".".join(map(str, path))} is {value.shape} '
                f'there, {variable.shape} here; set --config.model to match'
            )
        for part in (0, 2) if (2, *path) in flat else (0,):  # the model, its average
            updated[(part, *path)] = variable.replace(jax.device_put(value, replicated))
    if any(path[0] == 'aux' for path in fresh):
        logging.info('init_from %s: the auxiliary head is initialized afresh', directory)
    classifier = [path for path in fresh if path in arrays]
    if classifier:
        logging.info(
            'init_from %s: the classifier is initialized afresh (%d classes there, %d here)',
            directory,
            arrays[classifier[-1]].shape[-1],
            flat[(0, *classifier[-1])].shape[-1],
        )
    return nnx.from_flat_state(list(updated.items()))
