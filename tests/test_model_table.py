"""The README's reference-network table: rendering, and every published network measured."""

import pytest
from abstract_models import abstract_model

from experiments.reporting import model_table
from lineage import counting
from lineage.models import model_info, model_names
from lineage.models.info import Published

PUBLISHED = [n for n in model_names() if model_info(n).published is not None]


def test_render_cites_each_source_once_says_na_and_notes():
    shared = Published('A', ('1M', 'paper X, Table 1'), ('2G', 'paper X, Table 1'))
    other = Published('B', ('3M', 'paper Y'), None, note='B is wider', aux=True)
    text = model_table.render(
        [
            (model_table.Measured('a', 224, 1_234_567, 2_345_678_901), shared),
            (model_table.Measured('b', 299, 7, 569_000_000, params_with_aux=9), other),
        ]
    )
    lines = text.splitlines()
    assert lines[2] == '| A (`a`) | 224 | 1,234,567 | 1M [1] | 2.35G | 2G [1] |'
    assert lines[3] == '| B (a) (`b`) | 299 | 7 | 3M [2] | 569M | n/a |'
    assert lines[5:8] == [
        '- [1] paper X, Table 1',
        '- [2] paper Y',
        '- (a) B is wider; no auxiliary classifiers; 9 parameters with them',
    ]


def test_measure_counts_a_registered_model():
    # The ladder at its defaults (a registered model present from the start).
    measured = model_table.measure('ladder', 32, num_classes=10)
    model = abstract_model('ladder', num_classes=10)
    assert measured.params == counting.param_count(model)
    assert measured.macs == counting.total_macs(model, (32, 32, 3)) > 0


# MACs per example at the canonical resolution, as this implementation counts them (regression
# values; see the comments for how each compares with its paper).
EXPECTED_MACS = {
    'googlenet': 1_582_671_872,  # paper: a budget of 1.5G multiply-adds
    'inception_v3': 5_713_216_096,  # paper: 5G multiply-adds (its abstract)
    'mobilenet_v1': 568_740_352,  # paper: 569M Mult-Adds
    'mobilenet_v2': 300_774_272,  # paper: 300M MAdds
    'resnet50': 4_089_184_256,  # v1.5; minus 3 x 77,070,336 (v1's strided 1x1) = 3.86G, paper 3.8G
    'xception': 8_357_403_496,  # the paper gives none
}


def test_every_reference_network_of_the_lineage_has_its_published_figures():
    assert set(PUBLISHED) == set(EXPECTED_MACS)


@pytest.mark.parametrize('name', PUBLISHED)
def test_published_networks_are_measured_at_their_resolution(name):
    published = model_info(name).published
    resolution = model_info(name).input_size
    assert resolution == (299 if name in ('inception_v3', 'xception') else 224)
    measured = model_table.measure(name, resolution, aux=published.aux)
    assert measured.macs == EXPECTED_MACS[name]
    if published.aux:  # the counts with the auxiliary classifiers
        assert (
            measured.params_with_aux == {'googlenet': 13_385_816, 'inception_v3': 27_161_264}[name]
        )


def test_mobilenet_macs_round_to_the_papers():
    for name, paper in [('mobilenet_v1', 569e6), ('mobilenet_v2', 300e6)]:
        assert abs(EXPECTED_MACS[name] - paper) / paper < 0.005


def test_resnet50_v1_layout_would_give_the_papers_figure():
    extra = 3 * (56 * 56 - 28 * 28) * 256 * 128
    assert extra == 3 * 77_070_336
    assert round((EXPECTED_MACS['resnet50'] - extra) / 1e9, 2) == 3.86
