"""Evaluation alone: top-1 and top-5 of given weights on a config's eval split.

    python -m lineage.evaluate --config=configs/xception_imagenet.py \
        --config.model.convention=keras --config.init_from=weights/xception \
        --config.dataset.normalize=inception --config.dataset.data_dir=$TFDS_DATA_DIR \
        --workdir=runs/xception_keras_eval

Reads the weights as `--config.init_from` does (`lineage.init_from`: imported weights or a
run's workdir, whose parameter average is taken when it kept one), evaluates every example of
the eval split once with the config's eval preprocessing (`config.dataset.preprocess` and
`normalize`), prints top-1 and top-5 and writes `<workdir>/results.json`. The number of classes
must match the weights'. The workdir defaults to `runs/<config name>_eval`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import jax
import optax
from absl import app

from lineage import init_from, parallel, train, train_step
from lineage import main as cli
from lineage.blocks import conv_algorithms
from lineage.data import build_dataset
from lineage.plan import make_plan, model_options


def evaluate_weights(config: Any, workdir: str) -> dict[str, Any]:
    """Evaluates `config.init_from`'s weights; writes and returns the results.

    Raises:
      ValueError: one line: no `init_from`, weights of another model or class count.
    """
    if not config.get('init_from'):
        raise ValueError('--config.init_from=DIR is required: the weights to evaluate')
    with conv_algorithms.conv_impl(config.get('conv_impl', 'auto')):
        return _evaluate_weights(config, workdir)


def _evaluate_weights(config: Any, workdir: str) -> dict[str, Any]:
    mesh = parallel.make_mesh(config.num_devices)
    replicated = parallel.replicated(mesh)
    dataset = build_dataset(config.dataset, jax.process_index(), jax.process_count())
    plan = make_plan(config, dataset.num_train, mesh.size, jax.process_count())
    state_def = train_step.create_train_state(
        config, dataset.num_classes, plan.dtype, optax.identity(), replicated
    )
    name, options = model_options(config)
    arrays = init_from.read(config.init_from, name, options)
    state = init_from.apply(
        state_def.init(), arrays, config.init_from, replicated, new_classifier=False
    )
    eval_step = train_step.make_eval_step(state_def.eval_graphdef, replicated)
    part = train_step.eval_part(state)
    result = train.evaluate(eval_step, part, dataset, plan.process_batch, mesh)
    results = {
        'model': name,
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
    config = cli._CONFIG.value
    # Not the training run's workdir: its results.json stays as the run wrote it.
    workdir = cli._WORKDIR.value or cli.default_workdir(cli.config_arg(sys.argv)) + '_eval'
    try:
        parallel.initialize(
            config.distributed,
            cli._COORDINATOR.value,
            cli._NUM_PROCESSES.value,
            cli._PROCESS_ID.value,
        )
        results = evaluate_weights(config, workdir)
    except ValueError as e:
        sys.exit(f'error: {e}')
    if jax.process_index() == 0:
        top5 = 'n/a' if results['top5'] is None else f'{100 * results["top5"]:.2f}%'
        print(
            f'{results["model"]} on {results["dataset"]}: top-1 {100 * results["top1"]:.2f}%, '
            f'top-5 {top5} ({results["num_eval"]} images); {workdir}/results.json'
        )


if __name__ == '__main__':
    app.run(main, flags_parser=cli.parse_flags)
