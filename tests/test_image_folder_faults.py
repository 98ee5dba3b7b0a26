"""Image folders that would train to a meaningless result, or crash, are refused or skipped."""

import io
import logging
import os

import numpy as np
import pytest
from PIL import Image

from lineage import train
from lineage.data import build_dataset, image_check, image_folder, image_header
from lineage.data import dataset_config as data_config
from tests.test_input_faults import folder, folder_config


def dataset_config(root, **fields):
    return data_config(name='image_folder', data_dir=str(root), **{'image_size': 8, **fields})


@pytest.mark.parametrize(
    'counts',
    [
        {'train': {'cat': 8}, 'test': {'cat': 2}},  # one class folder
        {'train': {'cat': 8, 'dog': 0}, 'test': {'cat': 2, 'dog': 2}},  # two, one of them empty
    ],
)
def test_one_class_is_refused_in_one_line(tmp_path, counts):
    folder(tmp_path / 'data', counts)
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(folder_config(tmp_path / 'data'), str(workdir))
    assert str(error.value) == (
        f"image folder '{tmp_path / 'data'}' has train images of one class only ('cat'); a "
        'classifier needs two or more: give each class a folder of images under train/'
    )
    assert not workdir.exists()


def test_broken_and_looping_links_are_skipped_and_counted_and_folders_read_once(tmp_path, caplog):
    data = tmp_path / 'data'
    folder(data, {'train': {'a': 6, 'b': 6}, 'test': {'a': 2, 'b': 2}})
    folder(tmp_path / 'more', {'b': {'extra': 2}})  # outside the folder, linked into class b
    train_dir = data / 'train'
    os.symlink('nowhere.jpg', train_dir / 'a' / 'x.jpg')  # dangling
    os.symlink('self.jpg', train_dir / 'a' / 'self.jpg')  # a loop: stat fails with ELOOP
    os.symlink('.', train_dir / 'a' / 'loop')  # a folder link to its own folder
    os.symlink('..', train_dir / 'b' / 'up')  # ... to the split folder
    os.symlink('.', train_dir / 'loop')  # a "class" that is the split folder itself
    os.symlink(tmp_path / 'more' / 'b' / 'extra', train_dir / 'b' / 'extra')  # followed, once
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset(dataset_config(data, preprocess='none'), 0, 1)
    assert (dataset.num_classes, dataset.num_train, dataset.num_eval) == (2, 14, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    skipped = [w for w in warnings if w.startswith('image_folder: skipped')]
    assert len(skipped) == 1 and skipped[0].startswith('image_folder: skipped 2 files'), warnings
    assert f'(first: {train_dir}/a/self.jpg)' in skipped[0]
    loops = [w for w in warnings if w.startswith('image_folder: did not follow')]
    assert len(loops) == 1 and loops[0].startswith('image_folder: did not follow 3 folder links'), (
        warnings
    )
    with pytest.raises(ValueError) as error:
        build_dataset(dataset_config(data, preprocess='none', on_bad_image='error'), 0, 1)
    assert str(error.value) == (
        f"'{train_dir}/a/self.jpg' is a broken or looping link (2 such files in {train_dir}); "
        'remove it, or set --config.dataset.on_bad_image=skip'
    )


def jpeg_pair() -> tuple[bytes, bytes]:
    """A 16x16 JPEG, and the same bytes with the coded data scrambled: the same size, intact
    header and end marker, and no decode."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, 'JPEG', quality=95)
    good = buffer.getvalue()
    bad = bytearray(good)
    sos = bad.index(b'\xff\xda')  # start of scan: its header, then the coded data
    start, end = sos + 2 + int.from_bytes(bad[sos + 2 : sos + 4], 'big'), len(bad) - 2
    bad[start:end] = np.random.default_rng(0).integers(0, 256, end - start, np.uint8).tobytes()
    return good, bytes(bad)


def swap_keeping_size_and_mtime(path, data):
    """Replaces the file's bytes as a copy tool would, then `touch -r`s it to the old mtime."""
    before = os.stat(path)
    new = f'{path}.new'
    with open(new, 'wb') as f:
        f.write(data)
    os.replace(new, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_file_swapped_at_the_same_size_and_mtime_is_checked_again(tmp_path):
    good, bad = jpeg_pair()
    split = tmp_path / 'train'
    os.makedirs(split)
    path = split / 'a.jpg'
    path.write_bytes(good)
    assert image_check.check_files(str(split), [str(path)], image_folder.look)[0] == [True]
    swap_keeping_size_and_mtime(path, bad)
    assert image_check.check_files(str(split), [str(path)], image_folder.look)[0] == [False]


@pytest.mark.parametrize('cache', [True, False])
def test_a_decode_failure_in_training_names_the_file(tmp_path, monkeypatch, cache):
    """A file that no longer decodes when the pipeline reads it (its check passed on other
    bytes) ends the run in one line naming it, with the decoded-image cache and without."""
    good, bad = jpeg_pair()
    data = tmp_path / 'data'
    for split, count in (('train', 9), ('test', 2)):
        for name in ('a', 'b'):
            os.makedirs(data / split / name)
            for k in range(count):
                (data / split / name / f'{k}.jpg').write_bytes(good)

    def passed(root, paths, look, max_pixels, channels):
        return [True] * len(paths), [256] * len(paths)

    monkeypatch.setattr(image_check, 'check_files', passed)
    (data / 'train' / 'b' / '4.jpg').write_bytes(bad)  # after a check that passed
    config = dataset_config(data, preprocess='none', cache=cache)
    with pytest.raises(ValueError) as error:
        dataset = build_dataset(config, 0, 1)
        for _ in zip(range(3), dataset.train_batches(6, seed=0), strict=False):  # every image, once
            pass
    assert str(error.value) == (
        f"'{data}/train/b/4.jpg' no longer decodes: it changed after the check before training; "
        'replace or remove it, then rerun'
    )


@pytest.mark.parametrize('cache', [True, False])
def test_a_gif_or_cmyk_jpeg_is_skipped_where_the_first_image_is_grayscale(tmp_path, caplog, cache):
    """TensorFlow decodes a GIF or a CMYK JPEG to 3 channels but not to 1: where the first train
    image is grayscale (every image is then decoded to 1 channel) they are bad images, found by
    the check, not a crash at the first batch holding one."""
    data = tmp_path / 'data'
    pixels = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    for split, count in (('train', 4), ('test', 2)):
        for name in ('a', 'b'):
            os.makedirs(data / split / name)
            for k in range(count):
                Image.fromarray(pixels + k).convert('L').save(data / split / name / f'{k}.png')
    Image.fromarray(pixels).save(data / 'train' / 'a' / 'x.gif')
    Image.fromarray(pixels).convert('CMYK').save(data / 'train' / 'b' / 'x.jpg')
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset(dataset_config(data, preprocess='none', cache=cache), 0, 1)
        batches = [b for _, b in zip(range(2), dataset.train_batches(4, seed=0), strict=False)]
    assert (dataset.num_train, dataset.image_shape) == (8, (8, 8, 1))
    assert [b['image'].shape for b in batches] == [(4, 8, 8, 1)] * 2
    skipped = [r.getMessage() for r in caplog.records if 'skipped' in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].startswith(
        f'image_folder: skipped 2 files in {data}/train'
    )
    assert 'or not decodable to grayscale like the first train image' in skipped[0]


def bomb_jpeg(size=12000) -> bytes:
    """A 16x16 JPEG whose frame header (SOF0) states `size` x `size`: small on disk, huge to
    decode."""
    data = bytearray(jpeg_pair()[0])
    sof = data.index(b'\xff\xc0')  # length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = size.to_bytes(2, 'big') * 2
    return bytes(data)


def test_an_image_over_the_pixel_limit_is_named_and_skipped_not_decoded(tmp_path, caplog):
    data = tmp_path / 'data'
    folder(data, {'train': {'a': 8, 'b': 8}, 'test': {'a': 2, 'b': 2}})
    (data / 'train' / 'a' / 'bomb.jpg').write_bytes(bomb_jpeg())
    assert image_header.pixels(str(data / 'train' / 'a' / 'bomb.jpg')) == 12000 * 12000
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset(dataset_config(data, preprocess='none'), 0, 1)
    assert dataset.num_train == 16
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f'image_folder: skipped 1 images in {data}/train over config.dataset.max_image_pixels='
        f'89,478,485 pixels, a guard against decompression bombs (first: '
        f'{data}/train/a/bomb.jpg, 144,000,000 pixels); raise it to use them'
    ]
    with pytest.raises(ValueError) as error:
        build_dataset(dataset_config(data, on_bad_image='error'), 0, 1)
    assert str(error.value) == (
        f"'{data}/train/a/bomb.jpg' is 144,000,000 pixels, over "
        '--config.dataset.max_image_pixels=89,478,485 (a guard against decompression bombs); '
        'raise it to use the image, or remove it'
    )


def test_the_pixel_limit_is_an_option(tmp_path):
    data = tmp_path / 'data'
    folder(data, {'train': {'a': 8, 'b': 8}, 'test': {'a': 2, 'b': 2}})
    (data / 'train' / 'a' / 'big.jpg').write_bytes(jpeg_pair()[0])  # 16x16, 256 pixels
    # 8x8 PNGs (64 pixels) pass a limit of 100, the 16x16 JPEG does not; with the limit
    # raised, its check (skipped before, and cached so) runs and it is in.
    assert build_dataset(dataset_config(data, max_image_pixels=100), 0, 1).num_train == 16
    assert build_dataset(dataset_config(data, max_image_pixels=256), 0, 1).num_train == 17
    assert build_dataset(dataset_config(data, max_image_pixels=0), 0, 1).num_train == 17


@pytest.mark.parametrize('fmt', ['JPEG', 'PNG', 'GIF', 'BMP'])
@pytest.mark.parametrize('mode', ['RGB', 'L'])
def test_the_header_size_is_the_decoded_size(tmp_path, fmt, mode):
    path = tmp_path / f'image.{fmt.lower()}'
    Image.new(mode, (29, 13)).save(path, fmt)  # width 29, height 13
    assert image_header.size(str(path)) == (13, 29)
    assert image_header.size(__file__) is None
