"""JAX's persistent compilation cache, on by default for `python -m lineage.main`.

The first step of a reference network spends most of its time in XLA's compiler. With the
cache, a process that compiles the same program again (a resumed run, another seed of a sweep
point, a rerun after kill -9) loads it from disk instead (both measured in
experiments/results/train_benchmark_first_step.md). A write cut short (kill -9 mid-write)
leaves an entry JAX cannot read: each later run warns ('Error reading persistent compilation
cache entry') and compiles that program again, with the same results, until the folder is
deleted. Programs that compiled in under a second are not stored (JAX's
`jax_persistent_cache_min_compile_time_secs`).

    --config.compilation_cache_dir=~/.cache/lineage/xla   (the default; '' turns it off)

The cache is keyed on the program, the devices and the jax/jaxlib versions, so one folder
serves every run of a machine; on a TPU pod slice every host writes its own.
"""

from __future__ import annotations

import os
import tempfile

import jax


def enable(path: str) -> str:
    """Points JAX's persistent compilation cache at `path` (created); '' leaves it off.

    Call before the first jit. Returns the expanded path ('' when off).

    Raises:
      ValueError: `path` cannot be created or written.
    """
    if not path:
        return ''
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(
            f'compilation cache {path} is not writable ({e.strerror}); set '
            "--config.compilation_cache_dir to another folder, or to '' for no cache"
        ) from None
    jax.config.update('jax_compilation_cache_dir', path)
    return path
