"""The commands' log filter: orbax's routine INFO and read-only notices go, its warnings stay."""

import logging
import os
import sys

from absl import logging as absl_logging

from lineage import quiet_logs

ORBAX = os.path.join(os.sep, 'site-packages', 'orbax', 'checkpoint', 'manager.py')


def record(level: int, message: str, path: str = ORBAX) -> logging.LogRecord:
    return logging.LogRecord('absl', level, path, 1, message, None, None)


def test_orbax_chatter_goes_and_its_warnings_stay():
    keep = quiet_logs.QuietLibraries().filter
    assert not keep(record(logging.INFO, 'Closing _NonBlockingMetadataStore(...)'))
    assert not keep(record(logging.WARNING, 'Given directory is read only=/x'))
    assert not keep(record(logging.WARNING, 'write failed: [Errno 28] No space left on device'))
    assert keep(record(logging.WARNING, 'checkpoint 7 is incomplete'))
    assert keep(record(logging.INFO, 'step 5: loss 0.1', path='/x/lineage/metrics.py'))
    assert not keep(record(logging.INFO, "Unable to initialize backend 'tpu'", path='/x/jax.py'))


def test_install_filters_absl_and_hooks_unraisables(monkeypatch):
    handler = absl_logging.get_absl_handler()
    monkeypatch.setattr(handler, 'filters', list(handler.filters))
    monkeypatch.setattr(sys, 'unraisablehook', sys.unraisablehook)
    quiet_logs.install()
    assert any(isinstance(f, quiet_logs.QuietLibraries) for f in handler.filters)
    assert sys.unraisablehook is quiet_logs.quiet_closed_loop
