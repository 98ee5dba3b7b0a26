"""The one registry behind blocks, models and data sets: names, metadata, one-line errors."""

import pytest

from lineage.blocks.registry import BLOCKS
from lineage.data.dataset import DATASETS
from lineage.models import model_info
from lineage.models.registry import MODELS
from lineage.registry import Registry


def test_register_names_info_and_errors():
    registry = Registry('widget', 'lineage')
    registry.register('b', info={'size': 2})(len)
    registry.register('a')(max)
    assert registry.names() == ['a', 'b']
    assert registry.get('b') is len and registry.info('b') == {'size': 2}
    assert registry.info('a') is None
    with pytest.raises(ValueError, match=r"^widget 'a' is registered twice; pick another name$"):
        registry.register('a')(min)
    with pytest.raises(ValueError, match=r"^unknown widget 'c'; choose one of: a, b$"):
        registry.get('c')


def test_every_kind_uses_it_and_every_model_carries_its_metadata():
    assert {BLOCKS.kind, MODELS.kind, DATASETS.kind} == {'block', 'model', 'data set'}
    assert 'plain3x3' in BLOCKS.names() and 'digits' in DATASETS.names()
    for name in MODELS.names():
        info = model_info(name)
        assert info.input_size in (32, 224, 299) and info.in_channels == 3 and info.paper
    assert model_info('xception').input_size == 299
    assert model_info('xception').paper == 'Chollet 2017, "Xception", Fig. 5'
