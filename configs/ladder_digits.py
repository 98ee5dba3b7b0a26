"""The ladder on the embedded digits: the quick form of every ablation sweep (experiments/).

    python -m lineage.main --config=configs/ladder_digits.py --workdir=runs/ladder_digits

The CIFAR ladder's frame (stem + 3 stages of 16/32/64 channels, one block each) on the 1,437
train digits at 16x16, 8 epochs at batch 64: one rung takes about a minute on 2 CPU cores, so
a whole sweep runs in minutes (`python -m experiments.run_sweep --sweep=ladder_digits`). Block
options are declared after a colon as in configs/ladder_cifar10.py, e.g.
`--config=configs/ladder_digits.py:segments --config.model.block_options.segments=4`.
"""

import ml_collections

from configs.ladder_cifar10 import ladder_frame


def get_config(options: str = '') -> ml_collections.ConfigDict:
    config = ladder_frame(in_channels=1, options=options)
    config.dataset.image_size = 16
    config.dataset.max_shift = 1
    config.num_epochs = 8.0
    config.log_every_steps = 30
    config.checkpoint_every_steps = 1000
    return config
