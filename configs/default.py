"""The embedded default: a small ladder network on scikit-learn's digits, offline, on CPU.

    python -m lineage.main --config=configs/default.py

Trains the 'plain3x3' rung of the ladder (stem + 3 stages of 16/32/64 channels) on the 1,437
train digits upsampled to 32x32, evaluates on the fixed 360-example test split, and prints test
accuracy, parameters, MACs and accuracy per million parameters. Writes to runs/default (change
with --workdir); running the same command again resumes from the last checkpoint.

Any field can be overridden, e.g. `--config.model.block=separable --workdir=runs/separable`.
Variants import this file and change a few fields.
"""

import ml_collections
from ml_collections import config_dict

from lineage.data.config import dataset_config


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.model = ml_collections.ConfigDict()
    config.model.name = 'ladder'
    config.model.block = 'plain3x3'
    config.model.widths = (16, 32, 64)
    config.model.depths = (1, 1, 1)
    config.model.in_channels = 1
    config.model.dropout = 0.0
    config.model.block_options = ml_collections.ConfigDict()

    # Every `config.dataset` field (lineage/data/config.py), so any can be set on the command
    # line, e.g. --config.dataset.name=image_folder --config.dataset.data_dir=DIR.
    # max_shift: the digits' random translation of train images, in pixels.
    config.dataset = dataset_config(name='digits', image_size=32, max_shift=2)

    # Global batch (all devices, all processes); must divide over the devices.
    config.batch_size = 64
    config.num_epochs = 8.0
    config.num_train_steps = -1  # > 0 overrides num_epochs

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = 'sgd'  # a name of lineage.optim.OPTIMIZERS
    config.optimizer.learning_rate = 0.1  # peak, at batch lr_reference_batch
    config.optimizer.lr_reference_batch = 0  # > 0: lr scales by batch_size / this (Goyal et al.)
    config.optimizer.momentum = 0.9  # sgd, rmsprop
    config.optimizer.nesterov = True  # sgd
    config.optimizer.decay = 0.9  # rmsprop's moving-average decay
    config.optimizer.eps = config_dict.placeholder(float)  # None: 1.0 rmsprop (TF), 1e-8 adamw
    config.optimizer.b1 = 0.9  # adamw
    config.optimizer.b2 = 0.999  # adamw
    config.optimizer.weight_decay = 5e-4
    config.optimizer.decay_norm_and_bias = False  # False: no decay on BatchNorm params, biases
    config.optimizer.grad_clip_norm = 0.0  # > 0: clip the global gradient norm

    config.schedule = ml_collections.ConfigDict()
    config.schedule.name = 'cosine'  # a name of lineage.optim.SCHEDULES
    config.schedule.warmup_epochs = 1.0
    config.schedule.end_factor = 0.0  # cosine: final lr as a fraction of the peak
    config.schedule.decay_epochs = 2.0  # exponential: decay every this many epochs
    config.schedule.decay_rate = 0.94  # exponential: factor per decay

    config.label_smoothing = 0.0
    # Start from these weights (lineage.import_weights output or a run's workdir): init_from.py.
    config.init_from = ''
    # > 0: keep an exponential moving average of the parameters, evaluated in their place
    # (Inception v3, Sec. 8); 0 turns it off.
    config.ema_decay = 0.0
    config.aux_loss_weight = 0.0  # weight of each auxiliary classifier's loss (aux_logits models)
    config.dtype = 'float32'  # computation dtype: float32 | bfloat16 (params stay float32)
    # Conv algorithm (lineage/blocks/conv_algorithms.py): auto | xla | shift | im2col | hybrid;
    # all exact.
    config.conv_impl = 'auto'
    # JAX's persistent compilation cache (lineage/compilation_cache.py); '' turns it off.
    config.compilation_cache_dir = '~/.cache/lineage/xla'

    config.log_every_steps = 50
    config.eval_every_steps = 0  # 0: evaluate at the end only
    config.checkpoint_every_steps = 100
    config.keep_checkpoints = 2

    config.num_devices = 0  # 0: every device of every process; n: the first n (one process)
    config.distributed = False  # call jax.distributed.initialize() (multi-host)
    return config
