"""The decode check of every image file, and its cache keyed by path, size and mtime."""

import os

import numpy as np
from PIL import Image

from lineage.data import image_check
from tests.test_faults import scrambled_jpeg


def write(root, names):
    os.makedirs(root, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)
    for name in names:
        Image.fromarray(pixels).save(root / name)
    return [str(root / n) for n in names]


def test_a_jpeg_scrambled_in_its_middle_does_not_decode(tmp_path):
    paths = write(tmp_path, ['a.jpg', 'b.png', 'c.gif'])
    (tmp_path / 'bad.jpg').write_bytes(scrambled_jpeg())
    paths.insert(1, str(tmp_path / 'bad.jpg'))
    assert image_check.decodes(paths) == [True, False, True, True]
    assert image_check.decodes([]) == []


def test_a_rerun_decodes_only_new_or_changed_files(tmp_path, monkeypatch):
    paths = write(tmp_path / 'split', [f'{k}.png' for k in range(5)])
    decoded = []

    def counting(files, channels):
        decoded.append(len(files))
        return real(files, channels)

    real = image_check.decodes
    monkeypatch.setattr(image_check, 'decodes', counting)
    quick = lambda path: 0 if path.endswith('4.png') else 256  # noqa: E731 (the look says no)
    expected = [True, True, True, True, False]
    assert image_check.check_files(str(tmp_path / 'split'), paths, quick)[0] == expected
    assert decoded == [4]  # the one the quick check rejects is not decoded
    assert os.path.isfile(image_check.cache_path(str(tmp_path / 'split')))
    assert image_check.check_files(str(tmp_path / 'split'), paths, quick)[0] == expected
    assert decoded == [4]  # unchanged: nothing read again
    # The same name with other bytes (size and mtime change) is checked again, alone.
    (tmp_path / 'split' / '2.png').write_bytes(scrambled_jpeg())
    expected[2] = False
    assert image_check.check_files(str(tmp_path / 'split'), paths, quick)[0] == expected
    assert decoded == [4, 1]
    # Verdicts hold for the channels decoded to: another count decodes again (and is cached).
    for _ in range(2):
        assert image_check.check_files(str(tmp_path / 'split'), paths, quick, channels=3)[0] == (
            expected
        )
    assert decoded == [4, 1, 4]


def test_an_unreadable_cache_is_a_cold_one(tmp_path):
    paths = write(tmp_path / 'split', ['0.png'])
    cache = image_check.cache_path(str(tmp_path / 'split'))
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, 'w') as f:
        f.write('{"version": 1, "files": ')  # cut short
    assert image_check.check_files(str(tmp_path / 'split'), paths, lambda p: 1) == ([True], [1])
