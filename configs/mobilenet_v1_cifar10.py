"""MobileNet v1 on CIFAR-10: the CIFAR-size variant (stride-1 stem), on one GPU.

    python -m lineage.main --config=configs/mobilenet_v1_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/mobilenet_v1_cifar10

On a CPU, a smoke test: `--config.num_train_steps=20 --config.batch_size=16`. The data
and the recipe are `configs/recipe.py`'s `cifar10` (kuangliu/pytorch-cifar's).

kuangliu/pytorch-cifar has this network but reports no figure for it.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.cifar10(
        {'name': 'mobilenet_v1_cifar', 'alpha': 1.0, 'in_channels': 3, 'dropout': 0.0}
    )
