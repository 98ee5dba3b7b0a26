"""What is known of each reference network, in one place: `ModelInfo`, given at registration.

The way timm's `default_cfg` travels with a model: `@register_model('resnet50', ...)` states the
input size the network was designed for, its paper, the exact parameter count lineage builds
(at 1,000 classes, registry defaults; `tests/test_model_counts.py` asserts it), the figures its
paper publishes (`Published`, quoted with their sources for the README's model table), and the
names of the same architecture in keras.applications and timm (the Keras weights mapping and the
benchmark peers build those). Standard library only: nothing here builds a model.
"""

from __future__ import annotations

import dataclasses

# Sources, quoted as the papers print them.
GOOGLENET = 'Szegedy et al. 2014, Going Deeper with Convolutions'
INCEPTION_V3 = 'Szegedy et al. 2015, Rethinking the Inception Architecture'
XCEPTION = 'Chollet 2017, Xception'
MOBILENET = 'Howard et al. 2017, MobileNets'
MOBILENET_V2 = 'Sandler et al. 2018, MobileNetV2'
RESNET = 'He et al. 2015, Deep Residual Learning'
TORCHVISION = 'torchvision docs, ResNet50_Weights.IMAGENET1K_V1 num_params'


@dataclasses.dataclass(frozen=True)
class Published:
    """A network's published size; each figure is `(value as printed, source)` or None.

    Attributes:
      title: the network's name in the README's table.
      params: the published parameter count.
      macs: the published multiply-adds per image.
      note: where our network differs from the one the figures describe.
      aux: it has optional auxiliary classifiers (`aux_logits=True`), left out of the figures.
    """

    title: str
    params: tuple[str, str] | None
    macs: tuple[str, str] | None
    note: str = ''
    aux: bool = False


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a model is built for, and what is published of it.

    Attributes:
      input_size: the height and width of the input it was designed for (224, 299, 32).
      paper: the paper, and the table or figure, the network comes from.
      params: trainable parameters at 1,000 classes with the registry's defaults (BatchNorm
        scale and offset count, running statistics do not), as lineage builds it.
      in_channels: the input channels its constructor defaults to.
      published: the paper's own figures, for the model table; None for lineage's own networks
        and the CIFAR-size variants.
      keras: the keras.applications constructor of the same architecture, or None.
      timm: the timm model name of the same architecture, or None.
    """

    input_size: int
    paper: str
    params: int
    in_channels: int = 3
    published: Published | None = None
    keras: str | None = None
    timm: str | None = None
