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

import os
import signal
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorBoard's TensorFlow: no banner

import jax  # noqa: E402
from absl import app  # noqa: E402

from lineage import command_line, metrics, quiet_logs, train  # noqa: E402


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    quiet_logs.install()
    workdir = command_line.workdir()
    try:
        results = train.train_and_evaluate(
            command_line.CONFIG.value, workdir, command_line.launch(), cache=True
        )
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
    app.run(main, flags_parser=command_line.parse_flags)
