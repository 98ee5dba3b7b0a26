"""`run_sweep --commands`: each point left as one self-contained shell line, for any scheduler.

A line holds all a machine sharing this file system needs to run the point as the runner would:
cd to this checkout, the ENVIRONMENT variables set here, the point's `lineage.main` command with
absolute paths, and its output appended to the point's log. `parallel -j N`, a SLURM array
(`sed -n "${SLURM_ARRAY_TASK_ID}p"`) or one TPU VM a point runs them, and `run_sweep --collect`
gathers their results; the workdir lock keeps a point from running twice at once.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Collection, Mapping, Sequence

from experiments.sweeping import sweeps
from experiments.sweeping.estimate import finished

# The environment that `--commands` writes into each line: what changes how a point runs.
ENVIRONMENT = (
    'JAX_',
    'XLA_',
    'LIBTPU_',
    'TPU_',
    'TF_CPP_',
    'TF_ENABLE_',
    'TFDS_',
    'KERAS_',
    'OMP_',
)


def point_command(point: sweeps.Point, workdir: str, extra: Sequence[str] = ()) -> list[str]:
    """The command line that runs `point` in `workdir` with this Python."""
    return [sys.executable, '-m', 'lineage.main', *point.args(), *extra, f'--workdir={workdir}']


def shell_commands(
    points: Sequence[sweeps.Point],
    root: str,
    extra: Sequence[str] = (),
    committed: Collection[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """One self-contained shell line per point left (neither finished under `root` nor in
    `committed`): cd to this directory, the ENVIRONMENT variables set here, the point's
    `point_command` with absolute paths, its output appended to its log as the runner does."""
    root = os.path.abspath(root)
    env = [f'{k}={shlex.quote(v)}' for k, v in sorted(environ.items()) if k.startswith(ENVIRONMENT)]
    lines = []
    for point in points:
        workdir = os.path.join(root, point.name)
        if point.name in committed or finished(workdir):
            continue
        command = shlex.join(point_command(point, workdir, extra))
        lines.append(
            f'cd {shlex.quote(os.getcwd())} && mkdir -p {shlex.quote(root)} && '
            f'{" ".join([*env, command])} >> {shlex.quote(workdir + ".log")} 2>&1'
        )
    return lines
