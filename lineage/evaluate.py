"""Evaluation alone: top-1 and top-5 of given weights on a config's eval split.

    python -m lineage.evaluate --config=configs/xception_imagenet.py \
        --config.model.convention=keras --config.init_from=weights/xception \
        --config.dataset.normalize=inception --config.dataset.data_dir=$TFDS_DATA_DIR \
        --workdir=runs/xception_keras_eval

Reads the weights as `--config.init_from` does (`lineage.init_from`: imported weights or a
run's workdir, whose parameter average is taken when it kept one), evaluates every example of
the eval split once with the config's eval preprocessing (`config.dataset.preprocess` and
`normalize`), prints top-1 and top-5 and writes `<workdir>/results.json`. The number of classes
must match the weights'. The workdir defaults to `runs/<config name>_eval`; one holding a training
run is refused, so that the run's results.json stays as training wrote it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import jax
from absl import app

from lineage import command_line, init_from, parallel, quiet_logs, train, train_step
from lineage.data import build_dataset
from lineage.run_builder import build_run


def _holds_a_training_run(workdir: str) -> bool:
    """Whether `workdir` holds checkpoints, or a results.json that training wrote (an
    evaluation's names its `weights`): a sweep would also take a run still training there for
    finished once a results.json appeared."""
    if os.path.isdir(os.path.join(workdir, 'checkpoints')):
        return True
    try:
        with open(os.path.join(workdir, 'results.json')) as f:
            return 'weights' not in json.load(f)
    except FileNotFoundError:
        return False
    except ValueError:  # not JSON: not an evaluation's either
        return True


def evaluate_weights(
    config: Any, workdir: str, launch: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Evaluates `config.init_from`'s weights; writes and returns the results.

    Args:
      config: the config whose model, data set and eval preprocessing to use.
      workdir: where results.json goes.
      launch: the multi-process parameters, as for `train.start`.

    Raises:
      ValueError: one line: no `init_from`, a workdir holding a training run, weights of
        another model or class count.
    """
    train.start(config, launch)
    if not config.get('init_from'):
        raise ValueError('--config.init_from=DIR is required: the weights to evaluate')
    if _holds_a_training_run(workdir):
        raise ValueError(
            f'--workdir={workdir} holds a training run, whose results.json evaluation would '
            'replace; pass another --workdir (the default is runs/<config name>_eval)'
        )
    mesh = parallel.make_mesh(config.num_devices)
    dataset = build_dataset(config.dataset, jax.process_index(), jax.process_count())
    run = build_run(config, dataset.num_train, dataset.num_classes, mesh, evaluation_only=True)
    arrays = init_from.read(config.init_from, run.model_name, run.model_options)
    state = init_from.apply(
        run.state.init(), arrays, config.init_from, run.replicated, new_classifier=False
    )
    result = train.evaluate(run, train_step.eval_part(state), dataset)
    results = {
        'model': run.model_name,
        'weights': os.path.abspath(config.init_from),
        'dataset': dataset.name,
        'top1': result['top1'],
        'top5': result.get('top5'),
        'eval_loss': result['loss'],
        'correct': result['correct'],
        'num_eval': dataset.num_eval,
        'config': config.to_dict(),
    }
    if jax.process_index() == 0:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, 'results.json'), 'w') as f:
            json.dump(results, f, indent=2, sort_keys=True, default=str)
    return results


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    quiet_logs.install()
    # Not the training run's workdir: its results.json stays as the run wrote it.
    workdir = command_line.workdir('_eval')
    try:
        results = evaluate_weights(command_line.CONFIG.value, workdir, command_line.launch())
    except ValueError as e:
        sys.exit(f'error: {e}')
    if jax.process_index() == 0:
        top5 = 'n/a' if results['top5'] is None else f'{100 * results["top5"]:.2f}%'
        print(
            f'{results["model"]} on {results["dataset"]}: top-1 {100 * results["top1"]:.2f}%, '
            f'top-5 {top5} ({results["num_eval"]} images); {workdir}/results.json'
        )


if __name__ == '__main__':
    app.run(main, flags_parser=command_line.parse_flags)
