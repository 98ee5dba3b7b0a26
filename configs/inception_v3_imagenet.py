"""Inception v3 on ImageNet with the paper's recipe (Szegedy et al. 2015, Sec. 8), for a TPU VM.

    python -m lineage.main --config=configs/inception_v3_imagenet.py \
        --config.dataset.data_dir=$TFDS_DATA_DIR --workdir=runs/inception_v3_imagenet

(On a multi-host pod slice add `--config.distributed=True` and run it on every host.)

Paper's result: 21.2% top-1 error, 5.6% top-5 error (78.8% / 94.4%), single crop at 299x299
(Table 3, "Inception-v3": RMSProp, label smoothing, factorized 7x7, BN auxiliary).

Recipe (Sec. 7-8): RMSProp with decay 0.9 and epsilon 1.0, learning rate 0.045 decayed by 0.94
every two epochs, gradients clipped at norm 2.0, label smoothing 0.1, 100 epochs, batch 32 on
each of 50 replicas, 299x299 Inception crops, the auxiliary classifier on the 17x17 grid. The
paper does not give the auxiliary weight, the weight decay or the dropout: 0.4, 4e-5 on the
conv and fc weights, and a keep probability of 0.8 (dropout 0.2) are those of the reference
training code (TF-slim `inception_v3` and `train_image_classifier`; torchvision's reference
also weights the auxiliary loss 0.4). Batch 256 on one synchronous mesh stands in for the
paper's 50 asynchronous replicas; RMSProp's normalized steps are left at the paper's rate.
Evaluation reads "a running average of the parameters" (Sec. 8), decay 0.9999 as in the
reference code.
"""

import ml_collections
from ml_collections import config_dict

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    config = recipe.imagenet(
        {
            'name': 'inception_v3',
            'convention': config_dict.placeholder(str),
            'in_channels': 3,
            'dropout': 0.2,
            'aux_logits': True,
        },
        image_size=299,
        batch_size=256,
        num_epochs=100.0,
        optimizer=recipe.tf_rmsprop(grad_clip_norm=2.0),
        schedule=dict(name='exponential', decay_epochs=2.0, decay_rate=0.94),
        eval_every_steps=10_000,
        label_smoothing=0.1,
        aux_loss_weight=0.4,
    )
    config.ema_decay = 0.9999
    return config
