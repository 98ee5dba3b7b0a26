"""The training job end to end on digits with a tiny ladder: runs, 1 == 8 devices, resume, errors.

Every run here is the real `train_and_evaluate` writing a real workdir. Runs are shared through
module fixtures because compiling the steps dominates the time.
"""

import functools
import json
import os
import shutil
import signal
import statistics

import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments.sweeping import collect, sweeps
from lineage import checkpoint, metrics, parallel, train
from lineage.blocks import conv_algorithms
from tests import tiny
from tests.tiny import STEPS

# These runs checkpoint only at the end (keeping 2), evaluate at steps 2 and 4 besides the end,
# and train at the full rate from the first step, on 8 devices.
tiny_config = functools.partial(
    tiny.tiny_config,
    checkpoint_every_steps=100,
    keep_checkpoints=2,
    eval_every_steps=2,
    num_devices=8,
    **{'schedule.warmup_epochs': 0.0},
)


def read_jsonl(workdir):
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f]


def losses(workdir):
    return {r['step']: r['loss'] for r in read_jsonl(workdir) if 'loss' in r}


def final_params(workdir, step=STEPS):
    """The saved model parameters, read back from the checkpoint as numpy arrays."""
    path = os.path.join(workdir, 'checkpoints', str(step), 'state')
    state = ocp.StandardCheckpointer().restore(os.path.abspath(path))
    leaves = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f'{prefix}/{k}')
        else:
            leaves[prefix] = np.asarray(node)

    walk(state['0'], '')
    return leaves


@pytest.fixture(scope='module')
def run8(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('run8'))
    return workdir, train.train_and_evaluate(tiny_config(), workdir)


def test_end_to_end(run8):
    workdir, results = run8
    assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == [str(STEPS)]
    assert any(f.startswith('events.out.tfevents') for f in os.listdir(workdir))
    records = read_jsonl(workdir)
    assert [r['step'] for r in records if 'loss' in r] == list(range(1, STEPS + 1))
    assert all(r['images_per_sec'] > 0 for r in records if 'loss' in r and r['step'] > 1)
    assert [r['step'] for r in records if 'eval_top1' in r] == [2, 4, STEPS]
    assert records[-1]['step'] == STEPS and 'eval_top1' in records[-1]
    # The loss falls over 5 steps of SGD on one stream of digits.
    train_losses = losses(workdir)
    assert train_losses[STEPS] < train_losses[1]
    # Every test example counted once; the accuracy is the count over the split.
    assert results['num_eval'] == 360
    assert results['top1'] == pytest.approx(results['correct'] / 360)
    assert results['top1'] == pytest.approx(records[-1]['eval_top1'])
    assert 0 <= results['top1'] <= results['top5'] <= 1
    expected = 3 * 3 * 1 * 4 + 8 + 2 * (9 * 16 + 8) + 9 * 32 + 16 + 9 * 64 + 16 + 8 * 10 + 10
    assert results['params'] == expected
    assert results['macs'] == 16 * 16 * 9 * 4 * (1 + 4 + 4) + 8 * 8 * 9 * 8 * (4 + 8) + 80
    per_million = 100 * results['top1'] / (expected / 1e6)
    assert results['accuracy_per_million_params'] == pytest.approx(per_million)
    assert results['devices']['count'] == 8 and results['versions']['jax']
    assert results['host']['cores'] >= 1 and results['host']['cpu']
    with open(os.path.join(workdir, 'results.json')) as f:
        assert json.load(f)['config']['model']['widths'] == [4, 8]


def test_one_device_equals_eight(run8, tmp_path):
    workdir8, _ = run8
    workdir1 = str(tmp_path / 'run1')
    train.train_and_evaluate(tiny_config(num_devices=1), workdir1)
    one, eight = losses(workdir1), losses(workdir8)
    assert list(one) == list(range(1, STEPS + 1))
    for step in one:
        assert abs(one[step] - eight[step]) / abs(eight[step]) < 1e-5, step
    p1, p8 = final_params(workdir1), final_params(workdir8)
    assert p1.keys() == p8.keys() and len(p1) > 10
    # lax.conv's kernel gradient sums a sharded batch in another order than one device does;
    # float32 reassociation over the steps leaves the weights (|w| ~ 0.1-0.5) equal to 1e-4.
    for key in p1:
        np.testing.assert_allclose(p1[key], p8[key], rtol=1e-4, atol=1e-4, err_msg=key)


def test_conv_impl_holds_for_the_run_only(run8, tmp_path, monkeypatch):
    """`config.conv_impl` is the form of every conv the run traces, and is undone after it."""
    traced = []
    shift = conv_algorithms.FORMS['shift']
    monkeypatch.setitem(conv_algorithms.FORMS, 'shift', lambda *a: traced.append(1) or shift(*a))
    workdir = str(tmp_path / 'shift')
    train.train_and_evaluate(tiny_config(conv_impl='shift'), workdir)
    assert traced and conv_algorithms.get_conv_impl() == 'auto'
    shifted, auto = losses(workdir), losses(run8[0])
    for step in auto:  # the forms are equal up to the order of float sums
        assert abs(shifted[step] - auto[step]) / abs(auto[step]) < 1e-4, step


def preempted_at_step_3(workdir, monkeypatch):
    """Trains tiny_config() in `workdir` until a SIGTERM during the third step."""
    calls = []
    original = parallel.global_batch

    def preempt_during_third_step(local, sharding):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as a TPU VM maintenance event does
        return original(local, sharding)

    monkeypatch.setattr(parallel, 'global_batch', preempt_during_third_step)
    first = train.train_and_evaluate(tiny_config(), workdir)
    monkeypatch.setattr(parallel, 'global_batch', original)
    assert first == {'preempted': True, 'step': 3, 'signal': signal.SIGTERM}
    assert os.listdir(os.path.join(workdir, 'checkpoints')) == ['3']
    assert not os.path.exists(os.path.join(workdir, 'results.json'))


def test_sigterm_then_resume_equals_uninterrupted(run8, tmp_path, monkeypatch):
    workdir8, results8 = run8
    workdir = str(tmp_path / 'resumed')
    preempted_at_step_3(workdir, monkeypatch)

    second = train.train_and_evaluate(tiny_config(), workdir)
    resumed, uninterrupted = losses(workdir), losses(workdir8)
    assert list(resumed) == list(range(1, STEPS + 1))
    np.testing.assert_allclose(list(resumed.values()), list(uninterrupted.values()), rtol=1e-6)
    assert second['top1'] == results8['top1']
    assert second['eval_loss'] == pytest.approx(results8['eval_loss'], rel=1e-6)
    p, q = final_params(workdir), final_params(workdir8)
    for key in p:
        np.testing.assert_allclose(p[key], q[key], rtol=1e-6, atol=1e-7, err_msg=key)
    # images/s is the median over the intervals of both processes, as metrics.jsonl holds them.
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
        speeds = {
            r['step']: r['images_per_sec'] for r in map(json.loads, f) if 'images_per_sec' in r
        }
    assert min(speeds) <= 3 < max(speeds)
    assert second['train_images_per_sec'] == statistics.median(speeds.values())
    assert second['hosts'] == [second['host']] == [metrics.host_info()]


def test_a_carried_checkpoint_resumes_on_another_root_as_uninterrupted(run8, tmp_path, monkeypatch):
    # run_sweep --collect carries an interrupted point into the repo; a fresh machine's root,
    # elsewhere, resumes from it (the first machine and its runs directory are gone).
    workdir8, results8 = run8
    point = sweeps.Point('p-s0', 'configs/default.py', {})
    first, results, fresh = tmp_path / 'first', tmp_path / 'results', tmp_path / 'fresh'
    preempted_at_step_3(str(first / 'p-s0'), monkeypatch)
    assert collect.carry([point], str(first), str(results)) == {'p-s0': 3}
    shutil.rmtree(first)
    assert collect.resume_carried([point], str(fresh), str(results)) == {'p-s0': 3}
    elsewhere = {'cpu': 'another CPU', 'cores': 2}
    monkeypatch.setattr(train, 'host_info', lambda: elsewhere)
    second = train.train_and_evaluate(tiny_config(), str(fresh / 'p-s0'))
    resumed, uninterrupted = losses(fresh / 'p-s0'), losses(workdir8)
    assert list(resumed) == list(range(1, STEPS + 1))
    np.testing.assert_allclose(list(resumed.values()), list(uninterrupted.values()), rtol=1e-6)
    assert second['top1'] == results8['top1']
    # Both machines are named: its images/s and wall time are no one CPU's.
    assert (second['host'], second['hosts']) == (elsewhere, [metrics.host_info(), elsewhere])


def snapshot(directory):
    """Every file under `directory` with its size and modification time."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            st = os.stat(path)
            out[os.path.relpath(path, directory)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.parametrize(
    'fields,message',
    [
        ({'model.name': 'nope'}, r"unknown model 'nope'; choose one of: .*ladder"),
        ({'dataset.name': 'nope'}, r"unknown data set 'nope'; choose one of: .*digits"),
        ({'model.block': 'nope'}, r"unknown block 'nope'; choose one of: .*plain3x3"),
        ({'optimizer.name': 'lamb'}, r"unknown optimizer 'lamb' \(--config.optimizer.name\)"),
        ({'batch_size': 12}, r'batch_size=12 does not divide over 8 devices; use a multiple of 8'),
        (
            {'model.block': 'plain5x5'},
            r"holds checkpoints of another model \(options.block: 'plain3x3' there, 'plain5x5' "
            r'here\); pass another --workdir, or delete .*checkpoints to start over',
        ),
        (
            {'num_train_steps': 3},
            r'holds a checkpoint at step 5, past the 3 steps this config trains; pass another',
        ),
        (
            {'model.in_channels': 3},
            r"model 'ladder' does not take digits images of shape \(16, 16, 1\)",
        ),
        ({'seed': -1}, r'^--config.seed=-1: give a non-negative integer$'),
        (
            {'eval_every_steps': -1},
            r'^--config.eval_every_steps=-1: give 0 \(evaluate at the end only\) or a number',
        ),
        (
            {'dataset.preprocess': 'cifar'},  # the data sets that read it check it themselves
            r"^--config.dataset.preprocess='cifar' is not read by the digits data set; leave it "
            r"at 'auto', or set --config.dataset.name to a data set that reads it",
        ),
        (
            {'model.name': 'mobilenet_v2_cifar'},
            r"^model 'mobilenet_v2_cifar' does not take --config.model.block, "
            r'--config.model.block_options, --config.model.depths, --config.model.widths '
            r'\(options of another model\); use a config written for it, e.g. '
            r'--config=configs/mobilenet_v2_cifar10.py$',
        ),
    ],
)
def test_bad_input_leaves_workdir_alone(run8, tmp_path, fields, message):
    workdir = str(tmp_path / 'copy')
    shutil.copytree(run8[0], workdir)
    before = snapshot(workdir)
    with pytest.raises(ValueError, match=message):
        train.train_and_evaluate(tiny_config(**fields), workdir)
    assert snapshot(workdir) == before


def test_bad_input_creates_no_workdir(tmp_path):
    workdir = str(tmp_path / 'fresh')
    with pytest.raises(ValueError, match='does not divide over 8 devices'):
        train.train_and_evaluate(tiny_config(batch_size=20), workdir)
    assert not os.path.exists(workdir)


def test_nonfinite_loss_names_the_step_and_the_checkpoint_a_rerun_takes(tmp_path):
    pending = [(7, {'loss': np.float32(0.5)}), (8, {'loss': np.float32(np.nan)})]
    ckpt = checkpoint.Checkpoints(str(tmp_path), {}, keep=1)
    ckpt.saved_step = 5  # saved before the loss went bad, maybe already diverging
    with pytest.raises(train.NonFiniteLossError) as error:
        train._check_finite(pending, ckpt)
    assert str(error.value) == (
        'loss is nan at step 8; lower --config.optimizer.learning_rate or set '
        f'--config.optimizer.grad_clip_norm; a rerun in {tmp_path} would resume from the '
        'checkpoint at step 5, which may already be diverging: start over with a new --workdir '
        f'(or delete {tmp_path}/checkpoints)'
    )


def test_nonfinite_loss_stops_the_run(tmp_path):
    workdir = str(tmp_path / 'nan')
    with pytest.raises(
        train.NonFiniteLossError,
        match=r'loss is (nan|inf) at step \d.*; no checkpoint was saved, so a rerun starts over$',
    ):
        train.train_and_evaluate(tiny_config(**{'optimizer.learning_rate': 1e30}), workdir)
    assert not os.path.exists(os.path.join(workdir, 'checkpoints'))
