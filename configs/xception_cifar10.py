"""Xception on CIFAR-10: the CIFAR-size variant on one GPU.

The variant has a stride-1 'same' stem and a stride-1 first entry block.

    python -m lineage.main --config=configs/xception_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/xception_cifar10

On a CPU, a smoke test: `--config.num_train_steps=20 --config.batch_size=16`. The data
and the recipe are `configs/recipe.py`'s `cifar10` (kuangliu/pytorch-cifar's).

No published CIFAR-10 figure for this variant.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.cifar10({'name': 'xception_cifar', 'in_channels': 3, 'dropout': 0.0})
