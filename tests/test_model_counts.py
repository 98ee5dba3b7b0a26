"""Exact trainable-parameter counts of every registered model at 1,000 classes.

BatchNorm scale and offset count; BatchNorm running statistics do not. Each count is the
model's `ModelInfo.params`, stated where it is registered (with where the number is published,
for the ImageNet networks); a registration without one is refused.
"""

import pytest
from abstract_models import abstract_model

from lineage import counting
from lineage.models import model_info, model_names, register_model


def test_a_model_registered_without_a_count_is_refused():
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'params'"):
        register_model('uncounted', input_size=32, paper='none')


@pytest.mark.parametrize('name', model_names())
def test_param_count(name):
    assert counting.param_count(abstract_model(name)) == model_info(name).params


def test_published_counts_are_the_papers_and_libraries():
    """The counts that are published to the parameter (not regression values of our own)."""
    assert {n: model_info(n).params for n in ('resnet50', 'xception', 'mobilenet_v2')} == {
        'resnet50': 25_557_032,  # torchvision
        'xception': 22_855_952,  # Keras applications; Chollet 2017, Table 3
        'mobilenet_v2': 3_504_872,  # torchvision and Keras, width 1.0
    }
