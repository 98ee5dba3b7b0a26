"""The end of a run: a SIGTERM during its last moments, and the rerun of a finished run.

- SIGTERM during the final evaluation: the final checkpoint is kept whole, the run stops with
  its "stopped at" line (the command exits 143), and the rerun evaluates and ends exactly as
  the uninterrupted run did;
- SIGTERM while the final checkpoint is being written: the write finishes, nothing is left in
  `<step>.orbax-checkpoint-tmp`;
- the same command again on a finished run leaves results.json as it was, in one line.
"""

import glob
import json
import logging
import os
import shutil
import signal

import pytest

from lineage import checkpoint, train
from tests.test_faults import STEPS, finished, rerun_equals, tiny_config  # noqa: F401


class Killed(Exception):
    """What a SIGTERM that reaches the test's own handler raises: the run did not catch it."""


@pytest.fixture
def sigterm_raises():
    """Outside the run's handler a SIGTERM raises `Killed` (the default would end pytest)."""

    def handler(signum, frame):
        raise Killed

    previous = signal.signal(signal.SIGTERM, handler)
    yield
    signal.signal(signal.SIGTERM, previous)


def checkpoints(workdir):
    return sorted(os.listdir(os.path.join(workdir, 'checkpoints')))


def test_sigterm_in_the_final_evaluation_keeps_the_checkpoint_and_stops(
    finished,  # noqa: F811
    tmp_path,
    monkeypatch,
    caplog,
    sigterm_raises,
):
    workdir = str(tmp_path / 'run')
    evaluate = train.evaluate

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train, 'evaluate', terminated)
    with caplog.at_level(logging.INFO):
        stopped = train.train_and_evaluate(tiny_config(), workdir)
    assert stopped == {'preempted': True, 'step': STEPS, 'signal': signal.SIGTERM}
    assert f'stopped at step {STEPS} (checkpoint saved); rerun to resume' in caplog.text
    assert checkpoints(workdir) == ['2', '4', '5']  # the final one whole, no tmp folder
    assert not os.path.exists(os.path.join(workdir, 'results.json'))
    monkeypatch.undo()
    rerun_equals(finished, workdir)  # resumes at the last step: evaluates, nothing lost


def test_sigterm_while_the_final_checkpoint_is_written_keeps_it(
    tmp_path, monkeypatch, sigterm_raises
):
    workdir = str(tmp_path / 'run')
    close = checkpoint.Checkpoints.close

    def terminated(self):
        os.kill(os.getpid(), signal.SIGTERM)
        close(self)

    monkeypatch.setattr(checkpoint.Checkpoints, 'close', terminated)
    train.train_and_evaluate(tiny_config(), workdir)
    assert checkpoints(workdir) == ['2', '4', '5']


def test_rerun_of_a_finished_run_leaves_results_as_they_were(finished, tmp_path, caplog):  # noqa: F811
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    path = os.path.join(workdir, 'results.json')
    with open(path, 'rb') as f:
        before = f.read()
    with caplog.at_level(logging.INFO):
        results = train.train_and_evaluate(tiny_config(), workdir)
    with open(path, 'rb') as f:
        assert f.read() == before
    assert results == json.loads(before)
    assert results['first_step_s'] is not None
    lines = [r.getMessage() for r in caplog.records if 'already' in r.getMessage()]
    assert lines == [f'{workdir} finished at step {STEPS} already; results.json left as it was']


def test_tensorboard_holds_each_step_once_after_a_resume(finished, tmp_path):  # noqa: F811
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    for step in (4, 5):  # lost: the rerun resumes from step 2 and logs steps 3-5 again
        shutil.rmtree(os.path.join(workdir, 'checkpoints', str(step)))
    train.train_and_evaluate(tiny_config(), workdir)
    seen = [
        (event.step, value.tag)
        for path in glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))
        for event in EventFileLoader(path).Load()
        for value in event.summary.value
    ]
    losses_logged = sorted(step for step, tag in seen if tag == 'loss')
    assert losses_logged == [1, 2, 3, 4, 5]
    assert len(seen) == len(set(seen))
