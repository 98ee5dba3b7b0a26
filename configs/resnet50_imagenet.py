"""ResNet-50 on ImageNet with the paper's recipe (He et al. 2015, Sec. 3.4), for a TPU VM.

    python -m lineage.main --config=configs/resnet50_imagenet.py \
        --config.dataset.data_dir=$TFDS_DATA_DIR --workdir=runs/resnet50_imagenet

(On a multi-host pod slice add `--config.distributed=True` and run it on every host.)

Paper's result: 22.85% top-1 error (77.15% accuracy), Table 3, 10-crop testing.
torchvision's single-crop reproduction of this recipe (90 epochs) gives 76.13%.

Recipe: SGD, momentum 0.9, batch 256, learning rate 0.1 divided by 10 in steps, weight decay
1e-4 on every parameter (Caffe's), no dropout, no label smoothing, scale and aspect-ratio
augmentation (the Inception crop, `preprocess='imagenet'`). The paper trains "up to 60 x 10^4
iterations" (120 epochs at batch 256) and divides the rate "when the error plateaus"; the
plateaus are taken every 30 epochs, as torchvision does. The rate scales linearly with the
batch (Goyal et al. 2017) from its value at 256; add warmup (`--config.schedule.warmup_epochs=5`)
for batches of several thousand.
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.imagenet(
        {'name': 'resnet50', 'in_channels': 3, 'dropout': 0.0},
        image_size=224,
        batch_size=256,
        num_epochs=120.0,
        optimizer=dict(
            name='sgd',
            learning_rate=0.1,
            lr_reference_batch=256,
            momentum=0.9,
            nesterov=False,
            weight_decay=1e-4,
            decay_norm_and_bias=True,
        ),
        # staircase: x0.1 every 30 epochs
        schedule=dict(name='exponential', decay_epochs=30.0, decay_rate=0.1),
        eval_every_steps=10_000,
    )
