"""GoogLeNet on CIFAR-10: the CIFAR-size variant (a 3x3 stem, no early downsampling), one GPU.

    python -m lineage.main --config=configs/googlenet_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/googlenet_cifar10

On a CPU, a smoke test: `--config.num_train_steps=20 --config.batch_size=16`. The data
and the recipe are `configs/recipe.py`'s `cifar10` (kuangliu/pytorch-cifar's).

The variant is kuangliu/pytorch-cifar's GoogLeNet (whose "5x5" towers are two 3x3 convs; ours
keep the 5x5); that repository publishes no figure for it.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.cifar10(
        {'name': 'googlenet_cifar', 'in_channels': 3, 'dropout': 0.0, 'aux_logits': False}
    )
