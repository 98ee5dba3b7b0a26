"""ResNet-50 on CIFAR-10: the CIFAR-size variant (3x3 stride-1 stem, no max pool), on one GPU.

    python -m lineage.main --config=configs/resnet50_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/resnet50_cifar10

On a CPU, a smoke test: `--config.num_train_steps=20 --config.batch_size=16`. The data
and the recipe are `configs/recipe.py`'s `cifar10` (kuangliu/pytorch-cifar's).

kuangliu/pytorch-cifar reports 93.62% for this network with this recipe.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.cifar10({'name': 'resnet50_cifar', 'in_channels': 3, 'dropout': 0.0})
