"""GoogLeNet (BatchNorm, 5x5 towers) on ImageNet with the paper's recipe, for a TPU VM.

    python -m lineage.main --config=configs/googlenet_imagenet.py \
        --config.dataset.data_dir=$TFDS_DATA_DIR --workdir=runs/googlenet_imagenet

(On a multi-host pod slice add `--config.distributed=True` and run it on every host.)

Paper's result (Szegedy et al. 2014, Table 3): 10.07% top-5 error for one model and one crop;
no single-model top-1. Szegedy et al. 2015 (Rethinking, Table 3) list GoogLeNet at 29% top-1
and 9.2% top-5 error, single crop. BVLC Caffe's replication (made with the authors' help, no
BatchNorm, 60-epoch quick schedule) reports 68.7% top-1 / 88.9% top-5 on the center crop;
torchvision's BatchNorm GoogLeNet (3x3 towers) 69.78% / 89.53%.

Recipe (Sec. 6): SGD with momentum 0.9, the learning rate decreased by 4% every 8 epochs, the
auxiliary classifiers' losses weighted 0.3, dropout 0.4 (0.7 in the auxiliary heads), crops of
8%-100% of the image with aspect ratios 3/4-4/3 (the Inception crop). The paper leaves out the
batch, initial rate, weight decay and length; they are those of BVLC's original solver:
learning rate 0.01 at batch 32 (scaled linearly to the batch here), weight decay 2e-4 on the
weights (Caffe's decay_mult 0 on biases; BatchNorm parameters likewise), 250 epochs
(10,000,000 iterations at batch 32, the step every 320,000). No label smoothing (it came with
Inception v3).
"""

import ml_collections

from configs import recipe


def get_config() -> ml_collections.ConfigDict:
    return recipe.imagenet(
        {'name': 'googlenet', 'in_channels': 3, 'dropout': 0.4, 'aux_logits': True},
        image_size=224,
        batch_size=256,
        num_epochs=250.0,
        optimizer=dict(
            name='sgd',
            learning_rate=0.01,
            lr_reference_batch=32,
            momentum=0.9,
            nesterov=False,
            weight_decay=2e-4,
            decay_norm_and_bias=False,
        ),
        # staircase: x0.96 every 8 epochs
        schedule=dict(name='exponential', decay_epochs=8.0, decay_rate=0.96),
        eval_every_steps=10_000,
        aux_loss_weight=0.3,
    )
