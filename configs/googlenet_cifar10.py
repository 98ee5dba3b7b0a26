"""GoogLeNet on CIFAR-10: the CIFAR-size variant (a 3x3 stem, no early downsampling), one GPU.

    python -m lineage.main --config=configs/googlenet_cifar10.py \
        --config.dataset.data_dir=../shared/data/cifar10-jpeg --workdir=runs/googlenet_cifar10

The data comes from the image folder (`<data_dir>/{train,test}/<class>/*.jpg`) as in
configs/ladder_cifar10.py; with TFDS prepared (`tfds build cifar10`),
`--config.dataset.name=cifar10 --config.dataset.data_dir=` reads the same data. On a CPU, a
smoke test: `--config.num_train_steps=20 --config.batch_size=16`.

Recipe of kuangliu/pytorch-cifar, the reference for CIFAR-size ImageNet networks: SGD, momentum
0.9, batch 128, learning rate 0.1 with cosine decay to 0 over 200 epochs, weight decay 5e-4 on
every parameter, random crop (pad 4) and flip, no dropout, no auxiliary classifier, no label
smoothing.
The variant is kuangliu/pytorch-cifar's GoogLeNet (whose "5x5" towers are two 3x3 convs; ours
keep the 5x5); that repository publishes no figure for it.
"""

import ml_collections

from configs import default
from lineage.data.config import dataset_config


def get_config() -> ml_collections.ConfigDict:
    config = default.get_config()
    config.model = ml_collections.ConfigDict(
        {'name': 'googlenet_cifar', 'in_channels': 3, 'dropout': 0.0, 'aux_logits': False}
    )
    config.dataset = dataset_config(
        name='image_folder', data_dir='../shared/data/cifar10-jpeg', preprocess='cifar'
    )

    config.batch_size = 128
    config.num_epochs = 200.0
    config.optimizer.name = 'sgd'
    config.optimizer.learning_rate = 0.1
    config.optimizer.lr_reference_batch = 0
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 5e-4
    config.optimizer.decay_norm_and_bias = True
    config.schedule.name = 'cosine'
    config.schedule.warmup_epochs = 0.0
    config.schedule.end_factor = 0.0
    config.label_smoothing = 0.0
    config.aux_loss_weight = 0.0
    config.dtype = 'float32'

    config.log_every_steps = 100
    config.eval_every_steps = 3_900  # every 10 epochs at batch 128
    config.checkpoint_every_steps = 1_000
    return config
