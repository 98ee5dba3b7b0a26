"""From a Keras weights file to lineage: import CLI, evaluate alone, init_from, on an image folder.

A MobileNet (alpha 0.25, Keras's randomized weights written as the legacy `.h5` that
keras.applications publishes) is imported with `--check`, evaluated on a small image folder
the test writes (Inception-style [-1, 1] inputs, central crop), and fine-tuned from.
"""

import json
import logging

import h5py
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image
from test_keras_weights import randomize

from configs import default
from lineage import evaluate, import_weights, train
from lineage.weights import keras as keras_weights
from lineage.weights import saved_model

CLASSES, SIZE = 3, 32
MODEL = {'name': 'mobilenet_v1', 'convention': 'keras', 'alpha': 0.25, 'in_channels': 3}


def write_folder(root, classes, per_class=4, size=40):
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for c in range(classes):
            (root / split / f'class{c}').mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / f'class{c}' / f'{i}.png')
    return str(root)


def folder_config(data_dir, **fields):
    config = default.get_config()
    config.model = MODEL
    config.dataset.update(
        name='image_folder', data_dir=data_dir, image_size=SIZE, preprocess='imagenet'
    )
    config.dataset.normalize = 'inception'
    config.batch_size = 4
    config.num_devices = 1
    config.conv_impl = 'xla'  # compiles faster; every form is exact (tests/test_conv_algorithms.py)
    config.update_from_flattened_dict(fields)
    return config


@pytest.fixture(scope='module')
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp('keras')
    keras_model = keras_weights.build_keras('mobilenet_v1', CLASSES, (SIZE, SIZE, 3), alpha=0.25)
    randomize(keras_model)
    path = str(root / 'mobilenet_v1.h5')  # the published (legacy) format
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, 'w') as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    diff = import_weights.run(
        'mobilenet_v1',
        path,
        str(root / 'out'),
        num_classes=CLASSES,
        alpha=0.25,
        check=True,
        image_size=SIZE,
    )
    return keras_model, str(root / 'out'), diff


def test_import_check_writes_weights_and_refuses_to_overwrite(imported):
    _, out, diff = imported
    assert diff < 1e-5
    assert saved_model.read_fingerprint(out)['options'] == {'convention': 'keras', 'alpha': 0.25}
    with pytest.raises(ValueError, match='is not empty; pass a new --output'):
        import_weights.run('mobilenet_v1', __file__, out, num_classes=CLASSES, alpha=0.25)
    with pytest.raises(ValueError, match='does not load into keras.applications mobilenet_v1'):
        import_weights.run('mobilenet_v1', __file__, out + '_new', num_classes=CLASSES, alpha=0.25)


def test_weights_of_another_width_end_in_one_line_naming_alpha(imported, tmp_path, recwarn):
    keras_model, _, _ = imported
    path = str(tmp_path / 'mobilenet_v1.weights.h5')  # Keras 3's format warns for each layer
    keras_model.save_weights(path)
    with pytest.raises(ValueError, match=r'check --model, --alpha and --num_classes$'):
        import_weights.run(
            'mobilenet_v1', path, str(tmp_path / 'out'), num_classes=CLASSES, alpha=0.5
        )
    # Keras's "Skipping nested container" warnings, one a layer, are held back.
    assert [w for w in recwarn if w.category is UserWarning and 'keras' in w.filename] == []


def test_evaluate_alone_matches_keras_on_the_folder(imported, tmp_path):
    keras_model, out, _ = imported
    data = write_folder(tmp_path / 'data', CLASSES)
    config = folder_config(data, init_from=out)
    results = evaluate.evaluate_weights(config, str(tmp_path / 'eval'))
    assert json.load(open(tmp_path / 'eval' / 'results.json'))['top1'] == results['top1']
    # Keras on the same preprocessed eval images.
    from lineage.data import build_dataset

    dataset = build_dataset(config.dataset, 0, 1)
    correct = 0
    for batch in dataset.eval_batches(4):
        logits = np.asarray(keras_model(batch['image'], training=False))
        correct += int(np.sum((logits.argmax(-1) == batch['label']) * batch['mask']))
    assert results['num_eval'] == CLASSES * 4
    assert results['correct'] == correct


def test_init_from_reinitializes_a_new_classifier_and_keeps_the_rest(imported, tmp_path, caplog):
    _, out, _ = imported
    data = write_folder(tmp_path / 'data', 2)  # 2 classes: the classifier cannot be reused
    config = folder_config(
        data,
        init_from=out,
        num_train_steps=1,
        **{'optimizer.learning_rate': 0.0, 'schedule.warmup_epochs': 0.0},
    )
    with caplog.at_level(logging.INFO):
        train.train_and_evaluate(config, str(tmp_path / 'run'))
    assert 'classifier is initialized afresh (3 classes there, 2 here)' in caplog.text
    with ocp.CheckpointManager(str(tmp_path / 'run' / 'checkpoints')) as manager:
        state = manager.restore(1, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
    kernel = saved_model.flatten(state['state'])[(0, 'stem', 'kernel', 'value')]
    imported_kernel = saved_model.restore(out)[('stem', 'kernel')]
    np.testing.assert_array_equal(kernel, imported_kernel)  # learning rate 0: unchanged
    # A run's workdir serves as weights too: evaluated alone, it gives the run's final eval.
    run = json.load(open(tmp_path / 'run' / 'results.json'))
    config = folder_config(data, init_from=str(tmp_path / 'run'))
    assert evaluate.evaluate_weights(config, str(tmp_path / 'eval'))['correct'] == run['correct']


def test_init_from_another_model_is_one_line(imported, tmp_path):
    _, out, _ = imported
    config = folder_config(write_folder(tmp_path / 'data', 2), init_from=out)
    config.model = {'name': 'mobilenet_v2', 'alpha': 0.35, 'in_channels': 3}
    with pytest.raises(
        ValueError,
        match=r"holds model 'mobilenet_v1', alpha=0.25, convention='keras'; this config has "
        r"model 'mobilenet_v2'",
    ):
        train.train_and_evaluate(config, str(tmp_path / 'run'))
