"""The frame the reference-network configs share, so each config file holds only its network's.

`cifar10(model)` is kuangliu/pytorch-cifar's recipe, the reference for CIFAR-size ImageNet
networks, on the CIFAR-10 image folder; `imagenet(model, ...)` is the ImageNet frame (TFDS
`imagenet2012`, Inception preprocessing, bfloat16, no warmup) that each paper's recipe fills in.
Both start from configs/default.py, so every field stays settable from the command line.
"""

from typing import Any

import ml_collections

from configs import default
from lineage.data.config import dataset_config


def cifar10(model: dict[str, Any]) -> ml_collections.ConfigDict:
    """`model` under kuangliu/pytorch-cifar's recipe on CIFAR-10.

    SGD, momentum 0.9, batch 128, learning rate 0.1 with cosine decay to 0 over 200 epochs,
    weight decay 5e-4 on every parameter, random crop (pad 4) and flip, no label smoothing.
    The data comes from the image folder (`<data_dir>/{train,test}/<class>/*.jpg`) as in
    configs/ladder_cifar10.py; with TFDS prepared (`tfds build cifar10`),
    `--config.dataset.name=cifar10 --config.dataset.data_dir=` reads the same data.

    Args:
      model: the `config.model` fields (name and options).
    """
    config = default.get_config()
    config.model = ml_collections.ConfigDict(model)
    config.dataset = dataset_config(
        name='image_folder', data_dir='../shared/data/cifar10-jpeg', preprocess='cifar'
    )
    config.batch_size = 128
    config.num_epochs = 200.0
    config.optimizer.update(
        name='sgd',
        learning_rate=0.1,
        lr_reference_batch=0,
        momentum=0.9,
        nesterov=False,
        weight_decay=5e-4,
        decay_norm_and_bias=True,
    )
    config.schedule.update(name='cosine', warmup_epochs=0.0, end_factor=0.0)
    config.label_smoothing = 0.0
    config.dtype = 'float32'
    config.log_every_steps = 100
    config.eval_every_steps = 3_900  # every 10 epochs at batch 128
    config.checkpoint_every_steps = 1_000
    return config


def imagenet(
    model: dict[str, Any],
    *,
    image_size: int,
    batch_size: int,
    num_epochs: float,
    optimizer: dict[str, Any],
    schedule: dict[str, Any],
    eval_every_steps: int,
    label_smoothing: float = 0.0,
    aux_loss_weight: float | None = None,
) -> ml_collections.ConfigDict:
    """`model` on ImageNet (TFDS `imagenet2012`) with a paper's recipe, in bfloat16.

    Args:
      model: the `config.model` fields (name and options).
      image_size: the training and eval crop.
      batch_size: the global batch.
      num_epochs: the length of training.
      optimizer: `config.optimizer` fields the recipe sets.
      schedule: `config.schedule` fields the recipe sets (no warmup unless given).
      eval_every_steps: steps between evaluations.
      label_smoothing: the recipe's label smoothing.
      aux_loss_weight: the auxiliary classifiers' loss weight, for networks that have them.
    """
    config = default.get_config()
    config.model = ml_collections.ConfigDict(model)
    config.dataset = dataset_config(
        name='imagenet2012', image_size=image_size, preprocess='imagenet'
    )
    config.batch_size = batch_size
    config.num_epochs = num_epochs
    config.optimizer.update(optimizer)
    config.schedule.update({'warmup_epochs': 0.0, **schedule})
    config.label_smoothing = label_smoothing
    if aux_loss_weight is not None:
        config.aux_loss_weight = aux_loss_weight
    config.dtype = 'bfloat16'
    config.log_every_steps = 100
    config.eval_every_steps = eval_every_steps
    config.checkpoint_every_steps = 2_000
    return config


def tf_rmsprop(**overrides: Any) -> dict[str, Any]:
    """TensorFlow's RMSProp as Inception v3 (Szegedy et al. 2015, Sec. 8) and the MobileNets
    train with it: decay 0.9, momentum 0.9, epsilon 1.0, learning rate 0.045 at any batch, weight
    decay 4e-5 on kernels only; `overrides` adds or replaces fields."""
    return {
        'name': 'rmsprop',
        'learning_rate': 0.045,
        'lr_reference_batch': 0,
        'decay': 0.9,
        'momentum': 0.9,
        'eps': 1.0,
        'weight_decay': 4e-5,
        'decay_norm_and_bias': False,
        **overrides,
    }


def mobilenet_setup(model: dict[str, Any]) -> ml_collections.ConfigDict:
    """`model` on ImageNet with the "MobileNetV1 setup" (Sandler et al. 2018, Sec. 6.1).

    TensorFlow's RMSProp (decay 0.9, momentum 0.9, epsilon 1.0), learning rate 0.045 decayed
    by 0.98 per epoch, weight decay 4e-5, batch 96, 224x224; 300 epochs, the length of
    torchvision's reproduction (the papers give none). Both MobileNet configs train with it.
    Evaluation reads a moving average of the parameters with decay 0.9999, as TF-slim's
    MobileNet training does.
    """
    config = imagenet(
        model,
        image_size=224,
        batch_size=96,
        num_epochs=300.0,
        optimizer=tf_rmsprop(),
        schedule=dict(name='exponential', decay_epochs=1.0, decay_rate=0.98),
        eval_every_steps=20_000,
    )
    config.ema_decay = 0.9999
    return config
