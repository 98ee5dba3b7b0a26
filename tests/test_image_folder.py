"""Tests for lineage.data.image_folder on folders the tests write (no ../shared needed).

Each image is one flat colour that encodes its id, so it survives any resize or crop and
batches can be traced back to files.
"""

import collections
import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lineage.data import build_dataset, dataset_config, image_folder

# split -> class -> number of images; 'dog' only in train, 'emu' only in test.
LAYOUT = {
    'train': {'cat': 7, 'dog': 5, 'fox': 6},
    'test': {'cat': 4, 'emu': 3, 'fox': 4},
}
CLASSES = ['cat', 'dog', 'emu', 'fox']
SHAPES = [(12, 12), (9, 17), (20, 11), (8, 8)]  # (height, width): odd sizes, non-square


def colour(i: int) -> tuple[int, int, int]:
    # Steps of 16 grey levels: JPEG's few levels of error cannot change the id.
    return (i % 16 * 16 + 8, i // 16 * 16 + 8, 77)


def ids_of(images: np.ndarray) -> list[int]:
    level = (images[:, :, :, :2].mean(axis=(1, 2)) * 255 // 16).astype(int)
    return (level[:, 0] + 16 * level[:, 1]).tolist()


def write_folder(root, layout=LAYOUT, mode='RGB') -> dict[str, dict[int, int]]:
    """Writes the folder; returns split -> {image id: label}."""
    truth, i = {}, 0
    for split, classes in layout.items():
        truth[split] = {}
        for name, count in classes.items():
            os.makedirs(root / split / name)
            for k in range(count):
                h, w = SHAPES[(i + k) % len(SHAPES)] if k else (12, 12)
                fill = colour(i) if mode == 'RGB' else i % 256
                # A JPEG every fourth image (flat colour: JPEG keeps it to within a level).
                fmt, ext = ('JPEG', 'jpg') if i % 4 == 3 else ('PNG', 'png')
                Image.new(mode, (w, h), fill).save(root / split / name / f'{k:03d}.{ext}', fmt)
                truth[split][i] = CLASSES.index(name)
                i += 1
    return truth


def build(root, process_index=0, process_count=1, **fields):
    config = dataset_config(name='image_folder', data_dir=str(root), **fields)
    return build_dataset(config, process_index, process_count)


def test_classes_sizes_and_exact_eval(tmp_path):
    truth = write_folder(tmp_path)
    ds = build(tmp_path, image_size=8, preprocess='none')
    assert (ds.num_classes, ds.num_train, ds.num_eval) == (4, 18, 11)
    assert ds.image_shape == (8, 8, 3) and ds.name == f'image_folder:{tmp_path.name}'
    seen = collections.Counter()
    for batch in ds.eval_batches(4):
        real = batch['mask'] == 1
        assert batch['image'].shape == (4, 8, 8, 3) and batch['image'].dtype == np.float32
        for i, label in zip(ids_of(batch['image'][real]), batch['label'][real], strict=True):
            assert truth['test'][i] == label
            seen[i] += 1
    assert sorted(seen) == sorted(truth['test']) and set(seen.values()) == {1}


def test_train_epoch_labels_match_files_and_resume(tmp_path):
    truth = write_folder(tmp_path)
    ds = build(tmp_path, image_size=8, preprocess='none')
    stream = ds.train_batches(6, 0, 0)
    epoch = [next(stream) for _ in range(3)]  # 18 images, batch 6: one epoch
    ids = [i for b in epoch for i in ids_of(b['image'])]
    assert sorted(ids) == sorted(truth['train'])
    labels = [y for b in epoch for y in b['label'].tolist()]
    assert labels == [truth['train'][i] for i in ids]
    resumed = next(ds.train_batches(6, 0, 2))
    np.testing.assert_array_equal(resumed['image'], epoch[2]['image'])


def test_augmented_stream_is_seed_deterministic(tmp_path):
    write_folder(tmp_path)
    ds = build(tmp_path, image_size=8, preprocess='cifar')
    a, b, c = (next(ds.train_batches(4, seed, 0)) for seed in (5, 5, 6))
    np.testing.assert_array_equal(a['image'], b['image'])
    assert not np.array_equal(a['image'], c['image'])


def test_two_processes_split_train_and_eval_exactly(tmp_path):
    truth = write_folder(tmp_path)
    parts = [build(tmp_path, p, 2, image_size=8, preprocess='none') for p in range(2)]
    evals = [list(ds.eval_batches(4)) for ds in parts]
    assert [len(e) for e in evals] == [2, 2]  # 6 + 5 examples, same number of steps
    ids = [i for e in evals for b in e for i in ids_of(b['image'][b['mask'] == 1])]
    assert sorted(ids) == sorted(truth['test'])
    # Train: 9 examples each per epoch, batch 3; together one epoch has no repeats.
    train = [
        i
        for ds in parts
        for b in list(_take(ds.train_batches(3, 1, 0), 3))
        for i in ids_of(b['image'])
    ]
    assert len(train) == 18 and sorted(train) == sorted(truth['train'])


def _take(stream, n):
    return [next(stream) for _ in range(n)]


def test_bad_files_are_skipped_with_a_counted_warning(tmp_path, caplog):
    write_folder(tmp_path)
    (tmp_path / 'train' / 'cat' / 'notes.txt').write_text('not an image')
    (tmp_path / 'test' / 'fox' / 'broken.jpg').write_bytes(b'<html>404</html>')
    (tmp_path / 'train' / 'README').write_text('outside any class folder')
    (tmp_path / 'train' / 'cat' / '.DS_Store').write_bytes(b'\0\0\0\1Bud1')  # ignored silently
    with caplog.at_level(logging.WARNING):
        ds = build(tmp_path, image_size=8, preprocess='none')
    assert (ds.num_train, ds.num_eval) == (18, 11)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any('skipped 2 files' in w and 'train' in w for w in warnings), warnings
    assert any('skipped 1 files' in w and 'broken.jpg' in w for w in warnings), warnings
    assert sum(b['mask'].sum() for b in ds.eval_batches(4)) == 11


def test_a_class_the_train_split_lacks_is_a_warning(tmp_path, caplog):
    write_folder(tmp_path)  # emu only under test/, dog only under train/
    with caplog.at_level(logging.INFO):
        build(tmp_path, image_size=8, preprocess='none')
    lacking = [
        (r.levelno, r.getMessage()) for r in caplog.records if 'has no images of' in r.getMessage()
    ]
    assert lacking == [
        (logging.WARNING, "image_folder: split 'train' has no images of emu, which 'test' has: "
         'the model never learns them, so top-1 cannot reach 100%'),
        (logging.INFO, "image_folder: split 'test' has no images of dog"),
    ]  # fmt: skip


def test_bad_files_rejected_naming_the_file(tmp_path):
    write_folder(tmp_path)
    (tmp_path / 'test' / 'fox' / 'broken.jpg').write_bytes(b'<html>404</html>')
    with pytest.raises(
        ValueError, match=r"broken\.jpg' is not a JPEG/PNG/BMP/GIF image, or is cut short"
    ):
        build(tmp_path, image_size=8, on_bad_image='error')


def cut_short(path, keep=0.6):
    """Truncates an image file to `keep` of its bytes: the header still reads fine."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_cut_short_images_of_every_format_are_bad_whole_ones_are_not(tmp_path):
    # A noisy 24x24 image: its encoded body is long enough that a cut leaves the header whole.
    pixels = np.random.default_rng(0).integers(0, 256, (24, 24, 3), np.uint8)
    layout = {'train': {'cat': 7, 'dog': 5, 'fox': 6}, 'test': {'cat': 4, 'fox': 4}}
    write_folder(tmp_path, layout)
    for fmt, ext in (('JPEG', 'jpg'), ('PNG', 'png'), ('GIF', 'gif'), ('BMP', 'bmp')):
        whole = tmp_path / 'test' / 'cat' / f'whole.{ext}'
        Image.fromarray(pixels).save(whole, fmt)
        cut = tmp_path / 'test' / 'fox' / f'cut.{ext}'
        Image.fromarray(pixels).save(cut, fmt)
        cut_short(cut)
    # The cut files still start like images (longer than their headers): only their ends
    # give them away.
    for ext in ('jpg', 'png', 'gif', 'bmp'):
        data = (tmp_path / 'test' / 'fox' / f'cut.{ext}').read_bytes()
        assert len(data) > 200 and data.startswith(image_folder.SIGNATURES)
    ds = build(tmp_path, image_size=8, preprocess='none')
    assert ds.num_eval == 8 + 4  # the four whole files are in, the four cut ones out
    # Decoding every eval image (whole files of all four formats) goes through.
    assert sum(b['mask'].sum() for b in ds.eval_batches(4)) == 12
    with pytest.raises(
        ValueError, match=r"cut\.bmp' is not a JPEG/PNG/BMP/GIF image, or is cut short or corrupt "
    ):
        build(tmp_path, image_size=8, on_bad_image='error')


def test_grayscale_folder_widened_only_when_asked(tmp_path):
    write_folder(tmp_path, mode='L')
    assert build(tmp_path, image_size=8).image_shape == (8, 8, 1)
    ds = build(tmp_path, image_size=8, grayscale_to_rgb=True)
    assert ds.image_shape == (8, 8, 3)
    batch = next(ds.train_batches(4, 0, 0))
    assert batch['image'].shape == (4, 8, 8, 3)


def test_missing_folder_and_split_and_size_say_what_to_set(tmp_path):
    with pytest.raises(ValueError, match='does not exist; set --config.dataset.data_dir'):
        build(tmp_path / 'nowhere')
    write_folder(tmp_path, layout={'train': {'cat': 2, 'dog': 1}, 'holdout': {'cat': 1}})
    with pytest.raises(
        ValueError, match=r"has no 'test/validation/val' folder \(it has: holdout, train\)"
    ):
        build(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"has no 'train' folder \(it has: cat, dog\); pass its parent, "
        f'--config.dataset.data_dir={re.escape(str(tmp_path))}$',
    ):
        build(tmp_path / 'train', eval_split='holdout')
    (tmp_path / 'train' / 'cat' / '000.png').unlink()
    Image.new('RGB', (10, 6)).save(tmp_path / 'train' / 'cat' / '000.png')
    with pytest.raises(ValueError, match='not square: set --config.dataset.image_size'):
        build(tmp_path, eval_split='holdout')
    assert build(tmp_path, eval_split='holdout', image_size=6).num_eval == 1


def test_importing_lineage_data_does_not_import_tensorflow():
    code = "import sys, lineage.data; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, '-c', code], check=False).returncode == 0
