"""The flags that `lineage.main` and `lineage.evaluate` share, and their one-line errors.

`--config=file.py[:argument]` (locked: an override of a field the config does not have is an
error, not a new field), `--workdir`, and a multi-process run's `--coordinator_address`,
`--num_processes`, `--process_id` (or the environment variables JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID). `parse_flags` is the commands' absl flags parser: a config
file that is missing or does not load, or an override naming no field, ends the program with
one line `error: ...`, not a traceback; so does an empty `--config=` or `--workdir=` (an unset
shell variable), which would otherwise train into the default workdir.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from typing import Any

from absl import app, flags
from ml_collections import ConfigDict, config_flags

CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.', lock_config=True)
WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory; default runs/<config name>.')
COORDINATOR = flags.DEFINE_string(
    'coordinator_address',
    os.environ.get('JAX_COORDINATOR_ADDRESS'),
    "Multi-process: process 0's host:port (env JAX_COORDINATOR_ADDRESS).",
)
NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes',
    int(os.environ['JAX_NUM_PROCESSES']) if os.environ.get('JAX_NUM_PROCESSES') else None,
    'Multi-process: how many processes (env JAX_NUM_PROCESSES).',
)
PROCESS_ID = flags.DEFINE_integer(
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
    if config_path is not None:  # loaded here first: config_flags would print a traceback
        if not os.path.isfile(config_path.partition(':')[0]):
            sys.exit(
                f'error: --config={config_path}: no such file; e.g. --config=configs/default.py'
            )
        try:
            load_config(config_path)
        except TypeError as e:
            sys.exit(f'error: --config={config_path}: {e}')
        except Exception as e:
            sys.exit(f'error: could not load --config={config_path}: {" ".join(str(e).split())}')
    try:
        args = app.parse_flags_with_usage(argv)  # prints bad flag values itself, and exits
        CONFIG.value.keys()  # config_flags keeps a load failure until the config is read
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
    if WORKDIR.value is not None and not WORKDIR.value.strip():  # `--workdir=$UNSET_VARIABLE`
        sys.exit(
            'error: --workdir is empty; give a directory, or leave the flag out for '
            'runs/<config name>'
        )
    return args


def launch() -> dict[str, Any]:
    """The multi-process flags, as `parallel.initialize`'s keyword arguments."""
    return {
        'coordinator_address': COORDINATOR.value,
        'num_processes': NUM_PROCESSES.value,
        'process_id': PROCESS_ID.value,
    }


def workdir(suffix: str = '') -> str:
    """`--workdir`, or `default_workdir` of the `--config` given (with its `:argument`) and
    `suffix`."""
    path = config_flags.get_config_filename(flags.FLAGS['config'])
    return WORKDIR.value or default_workdir(path) + suffix
