"""Tests for lineage.data.pipeline: exact eval coverage, equal steps, seeds, resume.

Each test image carries its example id in its pixels, so batches can be traced back to examples.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from lineage.data import pipeline
from lineage.data.preprocess import make_preprocess

SIZE = 4
PLAIN = make_preprocess('none', image_size=SIZE, channels=3, train=False)
AUGMENT = make_preprocess('cifar', image_size=SIZE, channels=3, train=True)


def id_image(i: int) -> bytes:
    """A PNG whose pixel (0, 0) holds i (red + 256 * green) and whose rest is random."""
    image = np.random.default_rng(i).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    image[0, 0, :2] = (i % 256, i // 256)
    return tf.io.encode_png(image).numpy()


def ids_of(images: np.ndarray) -> np.ndarray:
    """Inverse of `id_image` after the 'none' transform (images in [0, 1])."""
    pixel = np.round(images[:, 0, 0, :2] * 255).astype(int)
    return pixel[:, 0] + 256 * pixel[:, 1]


def source(num_train: int, num_eval: int, process_index: int = 0, process_count: int = 1):
    items = [id_image(i) for i in range(max(num_train, num_eval))]
    return pipeline.indexed_source(
        items[:num_train],
        [i % 5 for i in range(num_train)],
        items[:num_eval],
        [i % 5 for i in range(num_eval)],
        process_index=process_index,
        process_count=process_count,
    )


def evaluate(src, batch_size):
    return list(pipeline.eval_batches(src, PLAIN, batch_size=batch_size))


def train(src, batch_size, seed, start_step=0, steps=4, preprocess=PLAIN, process_index=0):
    stream = pipeline.train_batches(
        src,
        preprocess,
        batch_size=batch_size,
        seed=seed,
        start_step=start_step,
        process_index=process_index,
    )
    return [next(stream) for _ in range(steps)]


def test_even_split_distributes_the_remainder_to_the_first_parts():
    assert [pipeline.even_split(11, i, 3) for i in range(3)] == [(0, 4), (4, 8), (8, 11)]
    assert [pipeline.even_split(2, i, 4) for i in range(4)] == [(0, 1), (1, 2), (2, 2), (2, 2)]
    with pytest.raises(ValueError, match='outside'):
        pipeline.even_split(10, 2, 2)


@pytest.mark.parametrize('num_eval', [13, 37])
@pytest.mark.parametrize('devices,per_device', [(1, 3), (8, 2)])
def test_eval_covers_every_example_exactly_once(num_eval, devices, per_device):
    batch_size = devices * per_device  # the per-process batch the training loop asks for
    batches = evaluate(source(8, num_eval), batch_size)
    assert len(batches) == -(-num_eval // batch_size)
    images = np.concatenate([b['image'] for b in batches])
    mask = np.concatenate([b['mask'] for b in batches])
    ids = ids_of(images[mask == 1])
    assert sorted(ids.tolist()) == list(range(num_eval))
    assert mask.sum() == num_eval and (mask == 0).sum() == len(batches) * batch_size - num_eval
    # Sharded over the devices as the eval step sees it: masked label counts are exact.
    mesh = jax.make_mesh((devices,), ('data',), devices=jax.devices()[:devices])
    sharding = NamedSharding(mesh, P('data'))
    counts = sum(
        jnp.sum(
            jax.device_put(b['mask'], sharding)[:, None]
            * jax.nn.one_hot(jax.device_put(b['label'], sharding), 5),
            axis=0,
        )
        for b in batches
    )
    np.testing.assert_array_equal(counts, np.bincount(np.arange(num_eval) % 5, minlength=5))


def test_eval_over_two_processes_same_steps_each_example_once():
    per_process = [evaluate(source(8, 37, p, 2), 8) for p in range(2)]  # 19 + 18 examples
    assert [len(b) for b in per_process] == [3, 3]
    ids = collections.Counter()
    for batches in per_process:
        for b in batches:
            ids.update(ids_of(b['image'][b['mask'] == 1]).tolist())
    assert sorted(ids) == list(range(37)) and set(ids.values()) == {1}


def test_train_epochs_are_permutations_shared_out_between_processes():
    # 37 examples, 2 processes: 18 each per epoch, 3 steps of 6; one example rests each epoch.
    streams = [train(source(37, 4, p, 2), 6, seed=0, steps=6, process_index=p) for p in range(2)]
    for epoch in range(2):
        ids = np.concatenate(
            [ids_of(b['image']) for s in streams for b in s[3 * epoch : 3 * epoch + 3]]
        )
        assert len(ids) == 36 and len(set(ids.tolist())) == 36, f'epoch {epoch} repeats an example'
    first = [ids_of(b['image']).tolist() for b in streams[0][:3]]
    second = [ids_of(b['image']).tolist() for b in streams[0][3:]]
    assert first != second  # a new order each epoch
    labels = streams[0][0]['label']
    np.testing.assert_array_equal(labels, ids_of(streams[0][0]['image']) % 5)


def test_steps_per_epoch_is_the_same_on_every_process():
    for num in (1_001, 50_000, 1_281_167):
        for processes, batch in ((1, 128), (2, 64), (8, 16), (3, 7)):
            sizes = {
                pipeline.even_split(num, p, processes)[1]
                - pipeline.even_split(num, p, processes)[0]
                for p in range(processes)
            }
            steps = pipeline.steps_per_epoch(num // processes, batch)
            assert steps == num // (processes * batch) and all(s // batch >= steps for s in sizes)


def test_same_seed_same_batches_different_seed_differs():
    src = source(20, 4)
    a = train(src, 4, seed=1, preprocess=AUGMENT)
    b = train(src, 4, seed=1, preprocess=AUGMENT)
    c = train(src, 4, seed=2, preprocess=AUGMENT)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x['image'], y['image'])
        np.testing.assert_array_equal(x['label'], y['label'])
    assert not np.array_equal(a[0]['image'], c[0]['image'])
    # One epoch (5 steps of 4) is a permutation of the 20 examples.
    d = train(src, 4, seed=1, steps=10, preprocess=PLAIN)
    assert sorted(np.concatenate([ids_of(x['image']) for x in d[:5]]).tolist()) == list(range(20))


@pytest.mark.parametrize('start_step', [1, 4, 5, 11])
def test_resume_at_step_k_equals_batch_k_of_an_uninterrupted_stream(start_step):
    # 22 examples, batch 4: 5 steps per epoch, so 5 and 11 resume in later epochs.
    src = source(22, 4)
    full = train(src, 4, seed=3, steps=start_step + 2, preprocess=AUGMENT)
    resumed = train(src, 4, seed=3, start_step=start_step, steps=2, preprocess=AUGMENT)
    for x, y in zip(full[start_step:], resumed, strict=True):
        np.testing.assert_array_equal(x['image'], y['image'])
        np.testing.assert_array_equal(x['label'], y['label'])


def test_bad_batch_sizes_say_what_to_change():
    with pytest.raises(ValueError, match='lower the batch size'):
        pipeline.train_batches(
            source(7, 4, 0, 2), PLAIN, batch_size=4, seed=0, start_step=0, process_index=0
        )
    with pytest.raises(ValueError, match='start_step'):
        pipeline.train_batches(
            source(8, 4), PLAIN, batch_size=4, seed=0, start_step=-1, process_index=0
        )


def test_empty_eval_split_on_a_process_still_yields_the_shared_step_count():
    # 3 eval examples over 4 processes: process 3 has none but runs the one eval step too.
    batches = evaluate(source(8, 3, 3, 4), 2)
    assert len(batches) == 1 and batches[0]['mask'].sum() == 0
