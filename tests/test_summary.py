"""The summary CLI: tables of blocks and models, markdown, options, and unknown names."""

import pathlib
import subprocess
import sys

import pytest
from absl import flags
from absl.testing import flagsaver

from lineage import summary
from lineage.models import model_names


def test_block_table_text():
    text = summary.summarize(block='plain3x3', in_features=8, out_features=16, input_size=9)
    lines = text.splitlines()
    assert lines[0] == 'block plain3x3 (8 -> 16, stride 1) on 9x9x8'
    assert lines[1].split() == ['path', 'layer', 'output', 'params', 'MACs']
    # conv1: 3*3*8*16 + 32 (BN) params, 81*9*8*16 MACs; conv2: 3*3*16*16 + 32, 81*9*16*16.
    assert lines[3].split() == ['conv1', 'conv', '3x3', '9x9x16', '1,184', '93,312']
    assert lines[4].split() == ['conv2', 'conv', '3x3', '9x9x16', '2,336', '186,624']
    assert lines[6].split() == ['total', '9x9x16', '3,520', '279,936']
    assert 'BatchNorm running statistics: 64 more' in text
    assert 'MACs: 279,936 (279.94K) per 9x9x8 example' in text


def test_block_table_markdown_with_stride_and_options():
    text = summary.summarize(
        block='plain5x5', in_features=4, out_features=8, strides=2, input_size=9, fmt='markdown'
    )
    lines = text.splitlines()
    assert lines[0] == '**block plain5x5 (4 -> 8, stride 2) on 9x9x4**'
    assert lines[2] == '| path | layer | output | params | MACs |'
    assert lines[4] == '| `conv1` | conv 5x5/2 | 5x5x8 | 816 | 20,000 |'
    assert lines[6] == '| **total** |  | **5x5x8** | **2,432** | **60,000** |'


def test_parse_options():
    assert summary.parse_options(['groups=4', 'act=relu6', 'kernel_size=(1, 7)']) == {
        'groups': 4,
        'act': 'relu6',
        'kernel_size': (1, 7),
    }
    with pytest.raises(ValueError, match='key=value'):
        summary.parse_options(['groups'])


def test_default_input_sizes():
    assert summary.default_input_size(None) == 32
    assert summary.default_input_size('resnet50') == 224
    assert summary.default_input_size('inception_v3') == 299
    assert summary.default_input_size('xception') == 299
    assert summary.default_input_size('xception_cifar') == 32


def test_model_table():
    # Every model's table is checked in test_counting; here the rendering of one.
    name = model_names()[0]
    text = summary.summarize(model=name, num_classes=10, input_size=32)
    assert text.splitlines()[0] == f'model {name} (10 classes) on 32x32x3'
    assert text.splitlines()[-3].split()[:2] == ['total', '10']


@pytest.mark.parametrize(
    'flag, message',
    [
        ({'block': 'nope'}, "unknown block 'nope'; choose one of: "),
        ({'model': 'nope'}, "unknown model 'nope'; choose one of: "),
        ({}, 'give exactly one of --block=<name> or --model=<name>'),
        (
            {'block': 'plain3x3', 'option': ['bogus=1']},
            "block 'plain3x3' takes no option 'bogus'; its options: none (given --option=bogus=1)",
        ),
        (
            {'block': 'separable', 'option': ['kernel_size=5', 'reps=1']},
            "block 'separable' takes no option 'kernel_size'; its options: mid_act, residual, reps",
        ),
        (
            {'model': 'ladder', 'option': ['bogus=1', 'widths=(8, 16, 32)', 'colour=2']},
            "model 'ladder' takes no option 'bogus', 'colour'; its options: see the config.model "
            'fields of ',
        ),
    ],
)
def test_main_bad_input_is_one_line_and_status_2(flag, message, capsys):
    summary.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**flag):
        assert summary.main(['summary']) == 2
    out, err = capsys.readouterr()
    assert out == ''
    assert err.count('\n') == 1 and message in err
    if 'choose one of' in message:
        assert 'plain3x3' in err or model_names()[0] in err


def test_main_prints_the_table(capsys):
    summary.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(block='plain3x3', in_features=4, out_features=4, input_size=8):
        assert summary.main(['summary']) == 0
    assert capsys.readouterr().out.startswith('block plain3x3 (4 -> 4, stride 1) on 8x8x4\n')


def test_command_line_unknown_name():
    result = subprocess.run(
        [sys.executable, '-m', 'lineage.summary', '--block=nope'],
        cwd=pathlib.Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ''
    assert result.stderr.strip().startswith("lineage.summary: unknown block 'nope'; choose one of:")
    assert 'Traceback' not in result.stderr


def test_a_bad_option_value_is_one_line_naming_the_option(capsys):
    summary.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(model='ladder', block=None, option=['widths=abc'], input_size=8):
        assert summary.main(['summary']) == 2
    err = capsys.readouterr().err
    assert err.startswith('lineage.summary: ') and err.count('\n') == 1
    assert err.rstrip().endswith('(given --option=widths=abc)')


@pytest.mark.parametrize('flag', ['in_features', 'out_features', 'num_classes', 'input_size'])
def test_a_size_below_one_is_refused_by_the_flag_parser(flag):
    with (
        flagsaver.flagsaver(),
        pytest.raises(flags.IllegalFlagValueError, match='not a positive integer'),
    ):
        summary.FLAGS[flag].parse('0')
