"""Small command-line mistakes end in one line, not a traceback."""

import os

import pytest

from lineage import import_weights
from tests.test_main import ROOT, run


def test_a_config_argument_the_file_does_not_take_is_one_line(tmp_path):
    workdir = tmp_path / 'run'
    result = run('--config=configs/default.py:foo', f'--workdir={workdir}')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'error: --config=configs/default.py:foo: configs/default.py takes no argument after '
        "':'; use --config=configs/default.py"
    ]
    assert not workdir.exists()


def test_a_config_argument_the_file_rejects_is_one_line(tmp_path):
    workdir = tmp_path / 'run'
    result = run('--config=configs/ladder_digits.py:nope', f'--workdir={workdir}')
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        'error: could not load --config=configs/ladder_digits.py:nope: '
    ), lines
    assert not workdir.exists()


@pytest.mark.parametrize(
    'flag,message',
    [
        ('--workdir=', 'error: --workdir is empty; give a directory, or leave the flag out for '
         'runs/<config name>'),
        ('--config=', 'error: --config=: no such file; e.g. --config=configs/default.py'),
    ],
)  # fmt: skip
def test_an_empty_path_flag_is_one_line(flag, message):
    # `--workdir=$UNSET` would otherwise train into (or resume) runs/default.
    had_default = os.path.exists(os.path.join(ROOT, 'runs', 'default'))
    result = run('--config=configs/default.py', flag)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]
    assert os.path.exists(os.path.join(ROOT, 'runs', 'default')) == had_default


def test_import_weights_output_that_is_a_file_is_refused_before_the_import(tmp_path):
    output = tmp_path / 'weights'
    output.write_text('a file')
    with pytest.raises(ValueError) as error:
        import_weights.run('mobilenet_v1', 'no-such-weights.h5', str(output), alpha=0.25)
    assert str(error.value) == f'{output} is a file; pass a new --output directory'
    assert output.read_text() == 'a file'
