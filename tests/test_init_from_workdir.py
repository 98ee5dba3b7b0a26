"""A run's own workdir as `--config.init_from`: evaluated alone, and fine-tuned from.

The config that trained the run holds tuples (`widths=(4, 8)`); the checkpoint's record holds
their JSON form (lists). Both must compare equal, or a run's own weights are refused.
"""

import json

import numpy as np
import pytest

from lineage import evaluate, init_from, train
from tests.test_faults import STEPS, losses, tiny_config


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('source'))
    config = tiny_config()
    assert isinstance(config.model.widths, tuple)  # what the fix must compare with lists
    return workdir, train.train_and_evaluate(config, workdir)


def test_a_trained_workdir_evaluates_to_its_final_eval(trained, tmp_path):
    workdir, results = trained
    config = tiny_config(init_from=workdir)
    evaluated = evaluate.evaluate_weights(config, str(tmp_path / 'eval'))
    assert evaluated['correct'] == results['correct']
    assert evaluated['eval_loss'] == pytest.approx(results['eval_loss'], rel=1e-6)
    with open(tmp_path / 'eval' / 'results.json') as f:
        assert json.load(f)['correct'] == results['correct']
    # Evaluating again into the same directory replaces the evaluation's own results; into the
    # run's workdir, it is refused, and the run's results.json stays as training wrote it.
    assert (
        evaluate.evaluate_weights(config, str(tmp_path / 'eval'))['correct'] == (results['correct'])
    )
    before = open(f'{workdir}/results.json').read()
    with pytest.raises(ValueError, match=f'^--workdir={workdir} holds a training run, whose'):
        evaluate.evaluate_weights(config, workdir)
    assert open(f'{workdir}/results.json').read() == before


def test_a_trained_workdir_is_fine_tuned_from(trained, tmp_path):
    workdir, results = trained
    config = tiny_config(init_from=workdir, **{'optimizer.learning_rate': 0.0})
    config.schedule.warmup_epochs = 0.0
    tuned = str(tmp_path / 'tuned')
    train.train_and_evaluate(config, tuned)
    assert list(losses(tuned)) == list(range(1, STEPS + 1))
    # Learning rate 0: every parameter is still the source's (BatchNorm statistics move).
    source, after = init_from._from_workdir(workdir)[1], init_from._from_workdir(tuned)[1]
    kernels = [path for path in source if path[-1] == 'kernel']
    assert len(kernels) > 3
    for path in kernels:
        np.testing.assert_array_equal(after[path], source[path])
