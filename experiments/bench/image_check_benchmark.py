"""What checking an image folder costs before training: the header look alone, then the full
decode check with a cold and with a warm verdict cache (lineage/data/image_check.py).

    python experiments/bench/image_check_benchmark.py --data_dir=../shared/data/cifar10-jpeg

The cold pass uses a fresh, empty cache folder ($XDG_CACHE_HOME is pointed at it), so the
user's cache is neither read nor written. Results: experiments/results/image_check.md.
"""

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from lineage.data import image_folder  # noqa: E402

_DATA_DIR = flags.DEFINE_string('data_dir', None, 'An image folder: <split>/<class>/<image>.')
flags.mark_flag_as_required('data_dir')


def files(data_dir: str, splits: list[str]) -> dict[str, list[str]]:
    classes = image_folder.class_names(data_dir, splits)
    out = {}
    for split in splits:
        root = os.path.join(data_dir, split)
        out[root] = sorted(
            os.path.join(dirpath, f)
            for name in classes
            for dirpath, _, names in os.walk(os.path.join(root, name))
            for f in names
        )
    return out


def main(argv: list[str]) -> None:
    del argv
    data_dir = _DATA_DIR.value
    splits = sorted(e.name for e in os.scandir(data_dir) if e.is_dir())
    roots = files(data_dir, splits)
    count = sum(len(p) for p in roots.values())
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(16) as pool:
        looks = [sum(pool.map(image_folder.is_image, p, chunksize=256)) for p in roots.values()]
    print(
        f'{count} files; header and end look alone: {time.perf_counter() - started:.1f} s '
        f'({time.process_time() - cpu:.1f} CPU-s; {count - sum(looks)} flagged)'
    )
    import tensorflow as tf  # a run has imported it before the check: not timed

    tf.data.Dataset.range(1).map(lambda i: i + 1).get_single_element()  # nor tf.data's start
    os.environ['XDG_CACHE_HOME'] = tempfile.mkdtemp(prefix='image-check-cost-')
    classes = image_folder.class_names(data_dir, splits)
    for label in ('cold cache', 'warm cache'):
        started, cpu = time.perf_counter(), time.process_time()
        bad = sum(len(image_folder.scan_split(r, classes).bad) for r in roots)
        print(
            f'full check, {label}: {time.perf_counter() - started:.1f} s '
            f'({time.process_time() - cpu:.1f} CPU-s; {bad} bad)'
        )


if __name__ == '__main__':
    app.run(main)
