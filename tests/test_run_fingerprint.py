"""A workdir's checkpoints resume only the run that wrote them (`lineage.run_fingerprint`)."""

import shutil

import pytest

from lineage import train
from tests.test_faults import STEPS, finished, snapshot, tiny_config  # noqa: F401 (a fixture)


@pytest.mark.parametrize(
    'field, value, difference',
    [
        ('optimizer.learning_rate', 0.01, 'recipe.optimizer.learning_rate: 0.05 there, 0.01 here'),
        ('seed', 3, 'recipe.seed: 0 there, 3 here'),
        ('batch_size', 32, 'recipe.batch_size: 16 there, 32 here'),
        ('schedule.warmup_epochs', 0.0, 'recipe.schedule.warmup_epochs: 1.0 there, 0.0 here'),
    ],
)
def test_workdir_of_another_recipe_is_refused(
    finished,  # noqa: F811
    tmp_path,
    field,
    value,
    difference,
):
    # The finished run would otherwise be reported as this config's (same steps), or resumed
    # into with another learning rate, seed or batch (fewer steps).
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    before = snapshot(workdir)
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(tiny_config(**{field: value}), workdir)
    assert str(error.value) == (
        f'{workdir} holds checkpoints of another training recipe ({difference}); pass another '
        f'--workdir, or delete {workdir}/checkpoints to start over'
    )
    assert snapshot(workdir) == before


def test_a_rerun_may_change_its_length_logging_and_checkpointing(finished, tmp_path):  # noqa: F811
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    changed = {'log_every_steps': 2, 'checkpoint_every_steps': 3, 'conv_impl': 'xla'}
    results = train.train_and_evaluate(tiny_config(num_train_steps=STEPS + 1, **changed), workdir)
    assert results['train_steps'] == STEPS + 1
