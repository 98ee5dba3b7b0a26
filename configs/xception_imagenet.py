"""Xception on ImageNet with the paper's recipe (Chollet 2017, Sec. 4.3), for a TPU VM.

    python -m lineage.main --config=configs/xception_imagenet.py \
        --config.dataset.data_dir=$TFDS_DATA_DIR --workdir=runs/xception_imagenet

(On a multi-host pod slice add `--config.distributed=True` and run it on every host.)

Paper's result: 79.0% top-1, 94.5% top-5 (Table 1, single crop, single model).

Recipe (Sec. 4.3): SGD, momentum 0.9, learning rate 0.045 decayed by 0.94 every 2 epochs,
weight decay 1e-5 (L2 on the kernels), dropout 0.5 before the classifier, no auxiliary tower,
no label smoothing, 299x299 Inception crops. The paper gives neither the batch size nor the
number of epochs (60 K80 GPUs, synchronous SGD, about 3 days): 256 and Inception v3's 100
epochs are our choice, and the rate is not rescaled with the batch since its reference batch
is unknown.
"""

import ml_collections

from configs import default
from lineage.data.config import dataset_config


def get_config() -> ml_collections.ConfigDict:
    config = default.get_config()
    config.model = ml_collections.ConfigDict({'name': 'xception', 'in_channels': 3, 'dropout': 0.5})
    config.dataset = dataset_config(name='imagenet2012', image_size=299, preprocess='imagenet')

    config.batch_size = 256
    config.num_epochs = 100.0
    config.optimizer.name = 'sgd'
    config.optimizer.learning_rate = 0.045
    config.optimizer.lr_reference_batch = 0
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 1e-5
    config.optimizer.decay_norm_and_bias = False
    config.schedule.name = 'exponential'
    config.schedule.warmup_epochs = 0.0
    config.schedule.decay_epochs = 2.0
    config.schedule.decay_rate = 0.94
    config.label_smoothing = 0.0
    config.dtype = 'bfloat16'

    config.log_every_steps = 100
    config.eval_every_steps = 10_000
    config.checkpoint_every_steps = 2_000
    return config
