"""What a run reports: TensorBoard and log lines (clu), metrics.jsonl, progress, results.json.

Only process 0 writes. Every logged value also goes to `<workdir>/metrics.jsonl`, one JSON
object per line with its `step`, so a sweep's report can read runs without TensorBoard. When a
run resumes, lines past the checkpoint it resumes from are dropped, from metrics.jsonl and from
the TensorBoard event files: those steps are trained again, and the files then read as if the
run had never stopped.
"""

from __future__ import annotations

import datetime
import glob
import importlib.metadata
import json
import os
import platform
import time
from typing import Any

from absl import logging

LIBRARIES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy', 'clu')


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    versions = {'python': platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = 'not installed'
    return versions


def host_info() -> dict[str, Any]:
    """The host's CPU and the cores this process may use.

    Images/s depend on them, and so can the last test image: the same commit and libraries print
    98.89% and 99.44% for the default run on two machines (experiments/results/default_run.md).
    """
    fields: dict[str, str] = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields.setdefault(key.strip(), value.strip())
    except OSError:  # not Linux
        pass
    if 'model name' in fields:
        family, model = fields.get('cpu family'), fields.get('model')
        cpu = f'{fields["model name"]} (family {family}, model {model})'
    else:
        cpu = platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return {'cpu': cpu, 'cores': cores}


def _record(line: bytes) -> dict[str, Any] | None:
    """One line of metrics.jsonl as a dict with an integer `step`; None if it is damaged.

    A line cut short (kill -9 or a full disk mid-write) or garbled does not parse; a blank
    line counts as damaged too, so the file is rewritten without it.
    """
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for garbled bytes
        return None
    if not isinstance(record, dict) or not isinstance(record.get('step'), int):
        return None
    return record


class Metrics:
    """Writers for one run; a no-op on processes other than 0.

    Args:
      workdir: the run's directory (metrics.jsonl and TensorBoard events go here).
      total_steps: the run's last step, for progress and ETA.
      global_batch: images per step, for images/s.
      start_step: the step the run starts from (drops later lines of metrics.jsonl).
      enabled: whether this process writes (process 0).
    """

    def __init__(
        self, workdir: str, total_steps: int, global_batch: int, start_step: int, enabled: bool
    ):
        self.workdir = workdir
        self.total_steps = total_steps
        self.global_batch = global_batch
        self.enabled = enabled
        self.path = os.path.join(workdir, 'metrics.jsonl')
        self._writer = None
        self._file = None
        self._last: tuple[int, float] | None = None
        self.throughput: list[float] = []  # images/s of each full logging interval
        self.logged: set[tuple[int, str]] = set()  # (step, key) already in metrics.jsonl
        # clu's writers import TensorFlow (seconds; not at module import, so that a bad flag
        # fails fast). Every process imports it, not process 0 alone: that skew would hold the
        # others at the first collective (over gloo on CPU, past its 30 s connect timeout on a
        # busy machine).
        from clu import metric_writers

        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        self._truncate(start_step)
        self._file = open(self.path, 'a')  # noqa: SIM115 (closed in close())
        self._writer = metric_writers.create_default_writer(workdir, asynchronous=False)

    def _truncate(self, start_step: int) -> None:
        self._truncate_events(start_step)
        if not os.path.exists(self.path):
            return
        with open(self.path, 'rb') as f:
            lines = f.read().splitlines(keepends=True)
        kept, damaged = [], []
        for number, line in enumerate(lines, 1):
            record = _record(line)
            if record is None:
                damaged.append(number)
            elif record['step'] <= start_step:
                kept.append((line.rstrip(b'\n') + b'\n', record))
        if damaged:
            logging.warning(
                '%s: dropped %d damaged line%s (line%s %s), as a run killed mid-write leaves them',
                self.path,
                len(damaged),
                '' if len(damaged) == 1 else 's',
                '' if len(damaged) == 1 else 's',
                ', '.join(map(str, damaged[:5])) + (', ...' if len(damaged) > 5 else ''),
            )
        self.logged = {(r['step'], key) for _, r in kept for key in r}
        # A resumed run's images/s is the median over all of its intervals, not this process's.
        self.throughput = [r['images_per_sec'] for _, r in kept if 'images_per_sec' in r]
        if [line for line, _ in kept] != lines:
            # Written aside and renamed: a kill or a full disk mid-rewrite leaves the old file.
            with open(self.path + '.tmp', 'wb') as f:
                f.writelines(line for line, _ in kept)
            os.replace(self.path + '.tmp', self.path)

    def _truncate_events(self, start_step: int) -> None:
        """Drops TensorBoard events past `start_step`: trained again, they would show twice."""
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        for path in glob.glob(os.path.join(self.workdir, 'events.out.tfevents.*')):
            records = list(RawEventFileLoader(path).Load())
            kept = [r for r in records if Event.FromString(r).step <= start_step]
            if len(kept) == len(records):
                continue
            with open(path + '.tmp', 'wb') as f:
                writer = RecordWriter(f)
                for record in kept:
                    writer.write(record)
            os.replace(path + '.tmp', path)

    def start_timer(self, step: int) -> None:
        """Marks `step` as finished now: images/s and ETA are measured from here."""
        self._last = (step, time.perf_counter())

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Writes scalars for `step` to TensorBoard, the log and metrics.jsonl."""
        if not self.enabled:
            return
        scalars = {k: float(v) for k, v in scalars.items()}
        self._writer.write_scalars(step, scalars)
        try:
            self._file.write(json.dumps({'step': step, **scalars}) + '\n')
            self._file.flush()
        except OSError as e:  # a file object's error names no file: name it (a full disk)
            raise OSError(e.errno, e.strerror, self.path) from e

    def timing(self, step: int) -> dict[str, float]:
        """images/s and ms/step since the last call (or `start_timer`); logs a progress line.

        Call only after the host has waited for `step` (e.g. fetched its loss), so the time
        measured is the device's. clu's `periodic_actions.ReportProgress` is not used: it
        reports steps/s (not images/s or ms/step) on its own clock, counting checkpoint and eval
        time into the interval unless each is wrapped in its `timed`.
        """
        now = time.perf_counter()
        if self._last is None:
            self._last = (step, now)
            return {}
        last_step, last_time = self._last
        self._last = (step, now)
        steps = step - last_step
        if steps <= 0:
            return {}
        step_time = (now - last_time) / steps
        images_per_sec = self.global_batch / step_time
        self.throughput.append(images_per_sec)
        if self.enabled:
            eta = datetime.timedelta(seconds=round(step_time * (self.total_steps - step)))
            logging.info(
                'step %d/%d (%.0f%%) | %.0f images/s | %.1f ms/step | ETA %s',
                step,
                self.total_steps,
                100 * step / self.total_steps,
                images_per_sec,
                1000 * step_time,
                eta,
            )
        return {'images_per_sec': images_per_sec, 'step_time_ms': 1000 * step_time}

    def write_results(self, results: dict[str, Any]) -> None:
        """Writes results.json (atomically: a reader never sees half a file)."""
        if not self.enabled:
            return
        path = os.path.join(self.workdir, 'results.json')
        with open(path + '.tmp', 'w') as f:
            json.dump(results, f, indent=2, sort_keys=True, default=str)
            f.write('\n')
        os.replace(path + '.tmp', path)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None


def read_results(workdir: str) -> dict[str, Any] | None:
    """`<workdir>/results.json`, or None when there is none or it does not read."""
    try:
        with open(os.path.join(workdir, 'results.json')) as f:
            results = json.load(f)
    except (OSError, ValueError):
        return None
    return results if isinstance(results, dict) else None


def summary_line(results: dict[str, Any]) -> str:
    """The run's last line: test accuracy, parameters, MACs, accuracy per million parameters."""
    return (
        f'{results["model"]} on {results["dataset"]}: test top-1 {100 * results["top1"]:.2f}% '
        f'({results["correct"]}/{results["num_eval"]}) | params {results["params"]:,} | '
        f'MACs {results["macs"] / 1e6:,.1f}M | '
        f'{results["accuracy_per_million_params"]:.1f} top-1 points per million params | '
        f'{results["wall_time_s"]:.0f} s'
    )
