"""Checkpoints: round trip onto the mesh, keep-last-N, the model record; SIGTERM (preemption)."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lineage import checkpoint, parallel
from lineage.preemption import Preemption

FINGERPRINT = {'model': 'ladder', 'options': {'block': 'plain3x3', 'widths': (4, 8)}}


def state_at(step):
    return {
        'params': {'kernel': jnp.full((3, 3, 2, 4), float(step)), 'bias': jnp.arange(4.0) + step},
        'step': jnp.array(step, jnp.uint32),
        'rng': jax.random.key(step),
    }


def files(directory):
    return sorted(
        os.path.relpath(os.path.join(r, f), directory)
        for r, _, fs in os.walk(directory)
        for f in fs
    )


def test_round_trip_keeps_last_n(tmp_path):
    mesh = parallel.make_mesh(8)
    rep = parallel.replicated(mesh)
    ckpt = checkpoint.Checkpoints(str(tmp_path), FINGERPRINT, keep=2)
    assert ckpt.check() == (0, {})
    assert not os.path.exists(tmp_path / 'checkpoints')  # checking writes nothing
    for step in (1, 2, 3):
        ckpt.save(step, jax.device_put(state_at(step), rep), elapsed_s=10.0 * step)
    ckpt.close()
    assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['2', '3']

    reopened = checkpoint.Checkpoints(str(tmp_path), FINGERPRINT, keep=2)
    step, record = reopened.check()
    assert (step, record['elapsed_s'], record['step']) == (3, 30.0, 3)
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), state_at(0)
    )
    step, restored, record = reopened.resume(abstract)
    reopened.close()
    assert (step, record['elapsed_s'], record['step']) == (3, 30.0, 3)
    expected = state_at(3)
    np.testing.assert_array_equal(restored['params']['kernel'], expected['params']['kernel'])
    np.testing.assert_array_equal(restored['params']['bias'], expected['params']['bias'])
    assert int(restored['step']) == 3
    np.testing.assert_array_equal(
        jax.random.key_data(restored['rng']), jax.random.key_data(expected['rng'])
    )
    assert restored['params']['kernel'].sharding == rep  # lands replicated on all 8 devices


def test_other_model_is_refused_and_nothing_written(tmp_path):
    ckpt = checkpoint.Checkpoints(str(tmp_path), FINGERPRINT, keep=1)
    ckpt.save(5, state_at(5), elapsed_s=1.0)
    ckpt.close()
    before = files(tmp_path)
    other = {'model': 'ladder', 'options': {'block': 'separable', 'widths': (4, 8)}}
    with pytest.raises(
        ValueError,
        match=r"holds checkpoints of another model \(options.block: 'plain3x3' there, "
        r"'separable' here\); pass another --workdir, or delete .*/checkpoints to start over",
    ):
        checkpoint.Checkpoints(str(tmp_path), other, keep=1).check()
    assert files(tmp_path) == before
    # The same model (tuples and lists compare alike once stored as JSON) is accepted.
    same = {'model': 'ladder', 'options': {'block': 'plain3x3', 'widths': [4, 8]}}
    assert checkpoint.Checkpoints(str(tmp_path), same, keep=1).check()[0] == 5


def test_only_keys_both_fingerprints_hold_are_compared(tmp_path):
    """Another lineage version's record: its retired keys and the keys it lacks are not held."""
    written = {**FINGERPRINT, 'dataset': {'name': 'image_folder', 'data_dir': '/old/place'}}
    ckpt = checkpoint.Checkpoints(str(tmp_path), written, keep=1)
    ckpt.save(5, state_at(5), elapsed_s=1.0)
    ckpt.close()
    now = {**FINGERPRINT, 'data': {'name': 'image_folder', 'train': 20, 'eval': 20}}
    assert checkpoint.Checkpoints(str(tmp_path), now, keep=1).check()[0] == 5
    other = {**now, 'options': {'block': 'separable', 'widths': (4, 8)}}
    with pytest.raises(ValueError, match=r"another model \(options.block: 'plain3x3' there"):
        checkpoint.Checkpoints(str(tmp_path), other, keep=1).check()


def test_saving_a_step_twice_is_a_no_op(tmp_path):
    ckpt = checkpoint.Checkpoints(str(tmp_path), FINGERPRINT, keep=3)
    ckpt.save(4, state_at(4), elapsed_s=1.0)
    ckpt.save(4, state_at(4), elapsed_s=2.0)  # the final save after a periodic one
    ckpt.close()
    assert os.listdir(tmp_path / 'checkpoints') == ['4']


def test_sigterm_sets_the_flag_and_the_handler_is_restored():
    previous = signal.getsignal(signal.SIGTERM)
    with Preemption() as preemption:
        assert not preemption.reached(1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert preemption.reached(2)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_sigint_stops_like_sigterm_and_a_second_one_interrupts():
    previous = signal.getsignal(signal.SIGINT)
    with Preemption() as preemption:
        assert not preemption.reached(1)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: save and stop after this step
        assert preemption.reached(2) and preemption.signum == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):  # pressed again: stop at once
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous
