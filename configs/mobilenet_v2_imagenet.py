"""MobileNet v2 on ImageNet with the paper's recipe (Sandler et al. 2018, Sec. 6.1), for a TPU VM.

    python -m lineage.main --config=configs/mobilenet_v2_imagenet.py \
        --config.dataset.data_dir=$TFDS_DATA_DIR --workdir=runs/mobilenet_v2_imagenet

(Width multiplier: `--config.model.alpha=0.75`. On a multi-host pod slice add
`--config.distributed=True` and run it on every host.)

Paper's result: 72.0% top-1 at width 1.0, 224x224 (Table 4).

Recipe (Sec. 6.1): RMSProp with decay and momentum 0.9 (TensorFlow's, epsilon 1.0), weight
decay 4e-5, learning rate 0.045 decayed by 0.98 per epoch, batch 96 (per asynchronous worker,
16 of them; the global batch here), BatchNorm after every layer. The epoch count is not given:
300, as in torchvision's reproduction of this schedule. Dropout 0.2 before the classifier as
in torchvision and Keras.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.mobilenet_setup(
        {'name': 'mobilenet_v2', 'alpha': 1.0, 'in_channels': 3, 'dropout': 0.2}
    )
