"""Inception v3 on CIFAR-10: the CIFAR-size variant (stride-1 stem, no stem pools), on one GPU.

    python -m lineage.main --config=configs/inception_v3_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/inception_v3_cifar10

On a CPU, a smoke test: `--config.num_train_steps=20 --config.batch_size=16`. The data
and the recipe are `configs/recipe.py`'s `cifar10` (kuangliu/pytorch-cifar's).

No published CIFAR-10 figure for this variant. At about 4.1 GMACs per 32x32 image (the
35x35 modules run at 32x32), it is a GPU job.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.cifar10(
        {'name': 'inception_v3_cifar', 'in_channels': 3, 'dropout': 0.0, 'aux_logits': False}
    )
