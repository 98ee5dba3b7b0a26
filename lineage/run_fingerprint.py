"""What a workdir's checkpoints must match for a run to resume from them: the model, the data
set, the optimizer state's shape and the training recipe. Each checkpoint's record keeps it
(`lineage.checkpoint`), and a rerun whose own differs is refused in one line naming the fields,
so another config's state is neither resumed into nor its finished results reported again.
"""

from __future__ import annotations

from typing import Any

from lineage import optim
from lineage.run_builder import Run


def fingerprint(run: Run, dataset: Any) -> dict[str, Any]:
    """What the train state depends on, and how it trains: a checkpoint written under another
    is refused."""
    config = run.config
    return {
        'model': run.model_name,
        'options': run.model_options,
        'num_classes': dataset.num_classes,
        'image_shape': list(dataset.image_shape),
        # The data set by what it holds, not where it lies: a run resumes with its data moved.
        'data': {'name': config.dataset.name, 'train': dataset.num_train, 'eval': dataset.num_eval},
        'optimizer': optim.state_fields(config),
        # The state holds the parameter average only where this is set: only such a run resumes.
        'ema_decay': config.get('ema_decay') or None,
        'recipe': recipe(config),
    }


# The config.dataset fields that change what a train image becomes (digits' max_shift only
# where it is set); the rest say where the data lies or how fast it is read.
_AUGMENTATION = ('preprocess', 'normalize', 'mean', 'std', 'max_shift')


def recipe(config: Any) -> dict[str, Any]:
    """How the run trains, beyond what its state's shape depends on: a rerun in its workdir
    with another seed, batch, learning rate, schedule, loss or augmentation is another run,
    refused rather than resumed into or reported as this one. Its length may change (raised,
    the run trains on), and so may logging, checkpointing and where the data lies. A new config
    field that changes how a run trains belongs here."""
    return {
        'seed': config.seed,
        'batch_size': config.batch_size,
        'optimizer': {k: v for k, v in config.optimizer.items() if k != 'name'},
        'schedule': config.schedule.to_dict(),
        'label_smoothing': config.label_smoothing,
        'aux_loss_weight': config.get('aux_loss_weight', 0.0),
        'dtype': config.dtype,
        'augmentation': {k: config.dataset.get(k) for k in _AUGMENTATION},
    }
