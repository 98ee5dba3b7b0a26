"""Exact trainable-parameter counts of every registered model at 1,000 classes.

BatchNorm scale and offset count; BatchNorm running statistics do not. A model registered
without a row here fails `test_every_model_has_a_count`.
"""

import pytest
from flax import nnx

from lineage import counting
from lineage.models import build_model, model_names

EXPECTED_PARAMS = {
    # ImageNet networks: the published counts (see README's table).
    'shufflenet_v2_x0_5': 1_366_792,  # torchvision
    'shufflenet_v2_x1_0': 2_278_604,  # torchvision
    'squeezenet1_0': 1_248_424,  # torchvision (convs with biases, no BatchNorm)
    'squeezenet1_1': 1_235_496,  # torchvision (convs with biases, no BatchNorm)
    'resnet50': 25_557_032,  # torchvision
    'xception': 22_855_952,  # Keras applications; the paper's Table 3
    'mobilenet_v1': 4_231_976,  # Keras applications, alpha 1.0
    'mobilenet_v2': 3_504_872,  # torchvision and Keras, width 1.0
    'googlenet': 7_005_832,  # torchvision's 6,624,904 + 380,928: 5x5 (not 3x3) towers
    'inception_v3': 23_834_568,  # torchvision, Keras (27,161,264 with the auxiliary head)
    # CIFAR-size variants: the counts this implementation gives, held as regression values.
    'googlenet_cifar': 6_886_664,  # one 3x3 conv 3 -> 192 in place of the 3-conv stem
    'inception_v3_cifar': 23_834_568,  # strides and padding change, widths do not
    'resnet50_cifar': 25_549_352,  # 3x3 stem: 3 * 64 * (49 - 9) fewer than resnet50
    'xception_cifar': 22_855_952,  # strides and padding change, widths do not
    'mobilenet_v1_cifar': 4_231_976,  # stem stride only
    'mobilenet_v2_cifar': 3_504_872,  # strides only
    'ladder': 425_736,  # plain3x3, widths (32, 64, 128), depths (1, 1, 1), 3 input channels
}


def test_every_model_has_a_count():
    missing = sorted(set(model_names()) - set(EXPECTED_PARAMS))
    assert not missing, f'add these models to EXPECTED_PARAMS: {missing}'


@pytest.mark.parametrize('name', sorted(EXPECTED_PARAMS))
def test_param_count(name):
    model = nnx.eval_shape(lambda: build_model(name, num_classes=1000, rngs=nnx.Rngs(0)))
    assert counting.param_count(model) == EXPECTED_PARAMS[name]
