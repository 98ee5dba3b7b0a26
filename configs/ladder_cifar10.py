"""The ladder on CIFAR-10 at the reduced budget of the committed ablations (experiments/).

    python -m lineage.main --config=configs/ladder_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/ladder_cifar10

A narrow ladder (stem + 3 stages of 16/32/64 channels, one block each) trained for a fixed
number of steps at batch 64 with SGD + Nesterov and a warmup + cosine schedule: sized so that
one run takes a few minutes on 2 CPU cores, which is what the committed sweeps could afford.
The data comes from the image folder (`<data_dir>/{train,test}/<class>/*.jpg`); with TFDS
prepared, `--config.dataset.name=cifar10 --config.dataset.data_dir=` reads the same data.

Block options are declared by name after a colon, because a locked config takes no new fields
and every block takes only its own options:

    --config=configs/ladder_cifar10.py:segments --config.model.block=spectrum \
        --config.model.block_options.segments=4

The full budget is a matter of overrides, e.g. on a TPU VM:
`--config.num_train_steps=-1 --config.num_epochs=100 --config.model.widths='(64, 128, 256)'
--config.model.depths='(2, 2, 2)'`. The sweeps (experiments/sweeping/sweeps.py) override
`config.model.block`, `config.model.block_options.*` and `config.seed` point by point.
"""

import ml_collections
from ml_collections import config_dict

from configs import default
from lineage.data.config import dataset_config

# The block options a sweep may set, with their types (None = the block's own default).
OPTION_TYPES = {'segments': int, 'mid_act': str, 'groups': int, 'linear_bottleneck': bool}


def declare_block_options(config: ml_collections.ConfigDict, options: str) -> None:
    """Adds `config.model.block_options.<name>` placeholders for a comma-separated `options`.

    Args:
      config: a ladder config (modified in place).
      options: e.g. 'segments' or 'mid_act'; '' declares none.

    Raises:
      ValueError: an option name this config does not know.
    """
    for name in filter(None, options.split(',')):
        if name not in OPTION_TYPES:
            raise ValueError(
                f'block option {name!r} is not declared; choose from {sorted(OPTION_TYPES)}'
            )
        config.model.block_options[name] = config_dict.placeholder(OPTION_TYPES[name])


def ladder_frame(in_channels: int, options: str) -> ml_collections.ConfigDict:
    """configs/default.py with the ablations' ladder: 16/32/64 channels, one block a stage.

    Args:
      in_channels: the data's image channels.
      options: the block options to declare (`declare_block_options`).
    """
    config = default.get_config()
    config.model.widths = (16, 32, 64)
    config.model.depths = (1, 1, 1)
    config.model.in_channels = in_channels
    declare_block_options(config, options)
    return config


def get_config(options: str = '') -> ml_collections.ConfigDict:
    config = ladder_frame(in_channels=3, options=options)
    config.dataset = dataset_config(
        name='image_folder', data_dir='../shared/data/cifar10-jpeg', preprocess='cifar'
    )
    # 300 steps of 64 images (0.38 epoch): the most the committed sweeps could afford on 2 CPU
    # cores (their time per point: experiments/README.md, experiments/results/COMMANDS.md).
    config.batch_size = 64
    config.num_train_steps = 300
    config.optimizer.learning_rate = 0.1
    config.schedule.warmup_epochs = 0.04  # 31 of the 781 steps per epoch
    config.log_every_steps = 50
    config.checkpoint_every_steps = 100
    return config
