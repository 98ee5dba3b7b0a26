"""The training job's entry point.

    python -m lineage.main --config=configs/default.py [--config.a.b=value ...] [--workdir=DIR]

The config is locked once loaded: overriding a field it does not have is an error, not a new
field. The workdir defaults to runs/<config file name>; running the same command again resumes
from its latest checkpoint. Bad input ends the run with one line naming it, before anything is
written.

Several processes (one per host of a TPU pod slice, or several on one machine) run the same
command and train one model together. On TPU VMs add `--config.distributed=True`: JAX finds
the other workers. Elsewhere give each process the coordinator (process 0's host:port), the
number of processes and its index, as flags or as the environment variables
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID; e.g. two CPU processes of 4
simulated devices each:

    for i in 0 1; do JAX_NUM_CPU_DEVICES=4 python -m lineage.main --config=configs/default.py \\
      --coordinator_address=127.0.0.1:12345 --num_processes=2 --process_id=$i & done; wait

Exit status: 0 when the run finished (or had finished already); 1 on an error, after one line
`error: ...` naming it; 128 + the signal number when SIGTERM (143) or Ctrl-C's SIGINT (130)
stopped it: it saved a checkpoint at the step it reached (a rerun resumes there), or, when
interrupted outside the training loop, it resumes from the last one.

Only process 0 writes metrics and results and prints the summary. Compiled programs are kept
in `config.compilation_cache_dir` (default ~/.cache/lineage/xla; see
lineage/compilation_cache.py), so a rerun or a resumed run skips most of the compile.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging as std_logging
import os
import signal
import sys
from typing import Any

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorBoard's TensorFlow: no banner

import jax  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import ConfigDict, config_flags  # noqa: E402

from lineage import compilation_cache, disk_full, metrics, parallel, plan, train  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory; default runs/<config name>.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address',
    os.environ.get('JAX_COORDINATOR_ADDRESS'),
    "Multi-process: process 0's host:port (env JAX_COORDINATOR_ADDRESS).",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes',
    int(os.environ['JAX_NUM_PROCESSES']) if os.environ.get('JAX_NUM_PROCESSES') else None,
    'Multi-process: how many processes (env JAX_NUM_PROCESSES).',
)
_PROCESS_ID = flags.DEFINE_integer(
    'process_id',
    int(os.environ['JAX_PROCESS_ID']) if os.environ.get('JAX_PROCESS_ID') else None,
    "Multi-process: this process's index (env JAX_PROCESS_ID).",
)
flags.mark_flags_as_required(['config'])


def default_workdir(config_path: str) -> str:
    """runs/<config file name without .py> (a `file.py:arg` suffix joins the name)."""
    path, _, arg = config_path.partition(':')
    name = os.path.splitext(os.path.basename(path))[0]
    return os.path.join('runs', f'{name}-{arg}' if arg else name)


def config_arg(argv: list[str]) -> str | None:
    """The value of the last `--config=` in `argv` (the one absl keeps), or None."""
    values = [a.split('=', 1)[1] for a in argv if a.startswith('--config=')]
    return values[-1] if values else None


def load_config(config_path: str) -> ConfigDict:
    """The config `--config=file.py[:argument]` names, loaded as config_flags loads it.

    Raises:
      TypeError: an argument after ':' to a `get_config` that takes none (one line).
      Exception: whatever the config file raises.
    """
    path, _, arg = config_path.partition(':')
    spec = importlib.util.spec_from_file_location('_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if arg and not inspect.signature(module.get_config).parameters:
        raise TypeError(f"{path} takes no argument after ':'; use --config={path}")
    return module.get_config(arg) if arg else module.get_config()


def unknown_fields(argv: list[str]) -> list[str]:
    """The `--config.a.b=...` overrides in `argv` that name no field of the config file."""
    path = config_arg(argv)
    if path is None:
        return []
    config = load_config(path)
    unknown = []
    for a in argv:
        if a.startswith('--config.'):
            node = config
            for part in a[len('--config.') :].split('=', 1)[0].split('.'):
                if not (isinstance(node, ConfigDict) and part in node):
                    unknown.append(a.split('=', 1)[0])
                    break
                node = node[part]
    return unknown


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing; a bad config file or field ends the program with one line."""
    config_path = config_arg(argv)
    if config_path and not os.path.isfile(config_path.partition(':')[0]):
        sys.exit(f'error: --config={config_path}: no such file; e.g. --config=configs/default.py')
    if config_path:  # loaded here first: config_flags would print its failure as a traceback
        try:
            load_config(config_path)
        except TypeError as e:
            sys.exit(f'error: --config={config_path}: {e}')
        except Exception as e:
            sys.exit(f'error: could not load --config={config_path}: {" ".join(str(e).split())}')
    try:
        args = app.parse_flags_with_usage(argv)  # prints bad flag values itself, and exits
        _CONFIG.value.keys()  # config_flags keeps a load failure until the config is read
    except Exception as e:  # config_flags raises KeyError/AttributeError/OSError, with traces
        try:
            unknown = unknown_fields(argv)
        except Exception:  # the config file itself does not load: say why below
            unknown = []
        if unknown:
            sys.exit(
                f'error: {", ".join(unknown)}: no such config field; the config file lists the '
                'fields (a locked config takes no new ones)'
            )
        sys.exit(f'error: could not load --config: {" ".join(str(e).split())}')
    return args


class _QuietLibraries(std_logging.Filter):
    """Drops orbax's per-save INFO chatter (dozens of lines a checkpoint); keeps warnings.

    Also drops its save threads' errors and tracebacks when the disk is full (the run ends on
    one line that says so, lineage/disk_full.py); the two warnings every read-only manager
    gives ('Given directory is read only'): that is how checkpoints are inspected before a run
    writes, not a fault; and JAX's INFO line on every CPU or GPU run that it found no TPU
    (libtpu).
    """

    def filter(self, record: std_logging.LogRecord) -> bool:
        if record.levelno < std_logging.WARNING and "backend 'tpu'" in record.getMessage():
            return False
        if f'{os.sep}orbax{os.sep}' not in record.pathname:
            return True
        message = record.getMessage()
        if disk_full.NO_SPACE in message or (
            record.exc_info and disk_full.causes(record.exc_info[1])
        ):
            return False  # its save threads' tracebacks: the run's one line reports a full disk
        return record.levelno >= std_logging.WARNING and not (
            'read only' in message or 'read_only=True' in message
        )


def _quiet_closed_loop(unraisable: Any) -> None:
    """Drops 'Event loop is closed' from TensorStore's threads; reports anything else.

    When a damaged checkpoint fails to restore, orbax closes its event loop while TensorStore
    reads of the same checkpoint are still in flight; each then reports, from its own thread,
    that it cannot call back: dozens of tracebacks around the one line that names the damage.
    """
    error = unraisable.exc_value
    if isinstance(error, RuntimeError) and str(error) == 'Event loop is closed':
        return
    sys.__unraisablehook__(unraisable)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    logging.get_absl_handler().addFilter(_QuietLibraries())
    sys.unraisablehook = _quiet_closed_loop
    config_path = config_flags.get_config_filename(flags.FLAGS['config'])
    workdir = _WORKDIR.value or default_workdir(config_path)
    try:
        plan.check_fields(_CONFIG.value)
        parallel.initialize(
            _CONFIG.value.distributed, _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value
        )
        compilation_cache.enable(_CONFIG.value.compilation_cache_dir)
        results = train.train_and_evaluate(_CONFIG.value, workdir)
    except (ValueError, train.NonFiniteLossError) as e:
        sys.exit(f'error: {e}')
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (loading, compiling, eval)
        print(
            'error: interrupted before a checkpoint could be saved; rerun to resume from the '
            'last one',
            file=sys.stderr,
        )
        sys.exit(128 + signal.SIGINT)
    if results.get('preempted'):
        if jax.process_index() == 0:
            print(
                f'stopped at step {results["step"]}, checkpoint saved in {workdir}; rerun to resume'
            )
        sys.exit(128 + results['signal'])  # unfinished: a scheduler or retry loop sees it
    if jax.process_index() == 0:  # one summary line per run, not per process
        print(metrics.summary_line(results))


if __name__ == '__main__':
    app.run(main, flags_parser=parse_flags)
