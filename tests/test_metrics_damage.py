"""A damaged metrics.jsonl (a line cut short by kill -9 or a full disk, or garbled): the run
resumes, drops the damaged lines with one warning naming the file, and rewrites it atomically."""

import json
import logging
import os
import shutil

import pytest

from lineage import metrics
from tests.test_faults import STEPS, finished, rerun_equals  # noqa: F401 (a fixture)


def damaged_warnings(caplog):
    return [r.getMessage() for r in caplog.records if 'damaged line' in r.getMessage()]


def test_a_line_cut_short_is_dropped_and_the_run_resumes(finished, tmp_path, caplog):  # noqa: F811
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    shutil.rmtree(os.path.join(workdir, 'checkpoints', str(STEPS)))  # killed before saving it
    path = os.path.join(workdir, 'metrics.jsonl')
    with open(path, 'rb+') as f:
        f.truncate(os.path.getsize(path) - 25)  # the last line, cut mid-write
    with caplog.at_level(logging.WARNING):
        rerun_equals(finished, workdir)  # every step's loss once, as the uninterrupted run
    warnings = damaged_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f'{path}: dropped 1 damaged line (line ')
    with open(path) as f:
        [json.loads(line) for line in f]  # every line reads


def test_a_garbled_line_is_dropped_and_the_rest_kept(tmp_path, caplog):
    path = tmp_path / 'metrics.jsonl'
    good = [json.dumps({'step': s, 'loss': 1.0 / s}) + '\n' for s in (1, 2, 3)]
    path.write_text(good[0] + '\x00\x00{"step": 2, "lo\n' + good[1] + good[2])
    with caplog.at_level(logging.WARNING):
        writer = metrics.Metrics(str(tmp_path), 5, 8, 2, enabled=True)
        writer.close()
    assert path.read_text() == good[0] + good[1]  # step 3 is past the resume point
    assert writer.logged == {(1, 'step'), (1, 'loss'), (2, 'step'), (2, 'loss')}
    assert damaged_warnings(caplog) == [
        f'{path}: dropped 1 damaged line (line 2), as a run killed mid-write leaves them'
    ]


def test_the_rewrite_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / 'metrics.jsonl'
    text = ''.join(json.dumps({'step': s, 'loss': 1.0 / s}) + '\n' for s in (1, 2, 3))
    path.write_text(text)

    def killed(src, dst):
        raise OSError('killed before the rename')

    monkeypatch.setattr(metrics.os, 'replace', killed)
    with pytest.raises(OSError, match='killed before the rename'):
        metrics.Metrics(str(tmp_path), 5, 8, 1, enabled=True)
    assert path.read_text() == text  # the old file whole, not half rewritten
