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

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.imagenet(
        {'name': 'xception', 'in_channels': 3, 'dropout': 0.5},
        image_size=299,
        batch_size=256,
        num_epochs=100.0,
        optimizer=dict(
            name='sgd',
            learning_rate=0.045,
            lr_reference_batch=0,
            momentum=0.9,
            nesterov=False,
            weight_decay=1e-5,
            decay_norm_and_bias=False,
        ),
        schedule=dict(name='exponential', decay_epochs=2.0, decay_rate=0.94),
        eval_every_steps=10_000,
    )
