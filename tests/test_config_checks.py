"""Config values outside their range end the run in one line, before anything is written."""

import glob
import importlib.util
import os

import pytest

from lineage import plan, train
from tests.test_faults import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    'fields,message',
    [
        ({'model.dropout': 1.5}, '--config.model.dropout=1.5: give a value in [0, 1)'),
        (
            {'optimizer.learning_rate': -0.1},
            '--config.optimizer.learning_rate=-0.1: give a value >= 0',
        ),
        (
            {'schedule.warmup_epochs': -1.0},
            '--config.schedule.warmup_epochs=-1.0: give a value >= 0',
        ),
    ],
)
def test_a_value_out_of_range_is_one_line_before_anything_is_written(tmp_path, fields, message):
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(tiny_config(**fields), str(workdir))
    assert str(error.value) == message
    assert not workdir.exists()


@pytest.mark.parametrize(
    'fields,message',
    [
        ({'optimizer.momentum': 1.0}, '--config.optimizer.momentum=1.0: give a value in [0, 1)'),
        ({'optimizer.eps': 0.0}, '--config.optimizer.eps=0.0: give a value > 0'),
        (
            {'optimizer.weight_decay': -1e-4},
            '--config.optimizer.weight_decay=-0.0001: give a value >= 0',
        ),
        ({'schedule.decay_rate': 0.0}, '--config.schedule.decay_rate=0.0: give a value in (0, 1]'),
        ({'ema_decay': 1.0}, '--config.ema_decay=1.0: give a value in [0, 1)'),
        ({'batch_size': 0}, '--config.batch_size=0: give a value >= 1'),
        ({'label_smoothing': 1.5}, '--config.label_smoothing=1.5: give a value in [0, 1)'),
    ],
)
def test_the_other_ranges(fields, message):
    with pytest.raises(ValueError) as error:
        plan.validate(tiny_config(**fields))
    assert str(error.value) == message


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py'))))
def test_every_shipped_config_is_in_range(path):
    spec = importlib.util.spec_from_file_location('_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if hasattr(module, 'get_config'):  # recipe.py holds the recipes the configs share
        plan.validate(module.get_config())
