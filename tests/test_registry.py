"""The one registry behind blocks, models and data sets: names, metadata, one-line errors."""

import pytest
from flax import nnx

from lineage.blocks import registry as registry_module
from lineage.blocks.registry import BLOCKS, block_options, build_block
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


def test_a_block_option_the_builder_does_not_take_is_named_with_those_it_does(monkeypatch):
    assert block_options('separable') == ['mid_act', 'residual', 'reps']
    assert block_options('plain3x3') == []
    with pytest.raises(ValueError, match=r"^block 'separable' takes no option 'kernel_size', 'k'; "
                       r'its options: mid_act, residual, reps$'):  # fmt: skip
        build_block('separable', 8, 8, kernel_size=5, k=1, reps=1, dtype=None, rngs=nnx.Rngs(0))
    # A researcher's builder that takes any option (`**options`) is left to check its own.
    researchers = Registry('block', 'lineage.blocks')
    monkeypatch.setattr(registry_module, 'BLOCKS', researchers)

    @researchers.register('any_option')
    def anything(in_features, out_features, strides=1, *, rngs, dtype=None, **options):
        return nnx.Linear(in_features, out_features + options['extra'], rngs=rngs)

    assert block_options('any_option') is None
    assert build_block('any_option', 2, 3, extra=1, rngs=nnx.Rngs(0)).out_features == 4
