"""MobileNet v1 on ImageNet with the papers' recipe (Howard et al. 2017, Sec. 4), for a TPU VM.

    python -m lineage.main --config=configs/mobilenet_v1_imagenet.py \
        --config.dataset.data_dir=$TFDS_DATA_DIR --workdir=runs/mobilenet_v1_imagenet

(Width multiplier: `--config.model.alpha=0.5`. On a multi-host pod slice add
`--config.distributed=True` and run it on every host.)

Paper's result: 70.6% top-1 at alpha 1.0, 224x224 (Table 8).

Recipe: RMSProp as in Inception v3 (TensorFlow's: decay 0.9, momentum 0.9, epsilon 1.0), "less
regularization and data augmentation" than large models: no label smoothing, no auxiliary
heads, little weight decay. The numbers the v1 paper leaves out come from the "MobileNetV1
setup" that MobileNetV2 (Sandler et al. 2018, Sec. 6.1) states: learning rate 0.045 decayed
by 0.98 per epoch, weight decay 4e-5, batch 96 (per asynchronous worker there; the global
batch here). Deviations: the paper puts little or no decay on depthwise filters, this config
decays every kernel; the epoch count is not given, 300 is that of torchvision's reproduction
of the schedule. Dropout 0.001 before the classifier as in Keras.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.mobilenet_setup(
        {'name': 'mobilenet_v1', 'alpha': 1.0, 'in_channels': 3, 'dropout': 1e-3}
    )
