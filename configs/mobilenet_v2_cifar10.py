"""MobileNet v2 on CIFAR-10: the CIFAR-size variant (stride-1 stem and second stage), on one GPU.

    python -m lineage.main --config=configs/mobilenet_v2_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/mobilenet_v2_cifar10

On a CPU, a smoke test: `--config.num_train_steps=20 --config.batch_size=16`. The data
and the recipe are `configs/recipe.py`'s `cifar10` (kuangliu/pytorch-cifar's).

kuangliu/pytorch-cifar reports 94.43% for its MobileNetV2 with this recipe (its blocks add
a 1x1 projection shortcut where the width changes at stride 1; ours, torchvision's, do not).
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.cifar10(
        {'name': 'mobilenet_v2_cifar', 'alpha': 1.0, 'in_channels': 3, 'dropout': 0.0}
    )
