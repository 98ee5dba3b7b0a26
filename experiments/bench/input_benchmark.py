"""Which bounds training: the input pipeline or the model? Images/s of each, and of both together.

    python -m experiments.bench.input_benchmark                      # CIFAR-10 JPEG folder, 32x32
    python -m experiments.bench.input_benchmark --data_dir=PATH --batch_size=256 --block=separable

Measures, on the CIFAR-10 image folder (50,000 JPEGs) with the train augmentation ('cifar':
pad 4, random crop, flip, normalize) at 32x32:

  pipeline   `Dataset.train_batches` alone: read, decode, augment, batch (numpy on the host);
  train step the jitted train step of the CIFAR-size ladder (`lineage.models.ladder` defaults)
             on one batch already on the devices: the model's own speed;
  together   the pipeline feeding the train step, as `lineage.train` runs them.

If `pipeline` is well above `train step`, the model bounds training. On a CPU host both share the
same cores, so `together` is below the smaller of the two; on an accelerator it is the smaller.
The machine's core count and load average are printed with the numbers: other jobs on the host
slow both. The pipeline's images per CPU-second (its cost, counted over all its threads) holds
whatever the load: a host with k cores free for input feeds at most about k times that.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
from absl import app, flags  # noqa: E402

from configs import default as default_config  # noqa: E402
from lineage import parallel, run_builder  # noqa: E402
from lineage.data import build_dataset, dataset_config  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string('data_dir', '../shared/data/cifar10-jpeg', 'Image folder (split/class/*).')
flags.DEFINE_integer('batch_size', 128, 'Global batch.')
flags.DEFINE_integer('image_size', 32, 'Resolution.')
flags.DEFINE_string('preprocess', 'cifar', 'Train augmentation family.')
flags.DEFINE_integer('pipeline_batches', 200, 'Batches timed for the pipeline alone.')
flags.DEFINE_integer('train_steps', 30, 'Steps timed for the train step and for both together.')
flags.DEFINE_string('block', 'plain3x3', 'Ladder block.')
flags.DEFINE_list('widths', ['32', '64', '128'], 'Ladder stage widths (ladder defaults).')
flags.DEFINE_list('depths', ['1', '1', '1'], 'Ladder stage depths (ladder defaults).')


def rate(images: int, seconds: float) -> str:
    return f'{images / seconds:10,.0f} images/s'


def main(argv: list[str]) -> None:
    del argv
    config = default_config.get_config()
    config.batch_size = FLAGS.batch_size
    config.model.block = FLAGS.block
    config.model.widths = tuple(int(w) for w in FLAGS.widths)
    config.model.depths = tuple(int(d) for d in FLAGS.depths)
    config.model.in_channels = 3
    config.dataset = dataset_config(
        name='image_folder',
        data_dir=FLAGS.data_dir,
        image_size=FLAGS.image_size,
        preprocess=FLAGS.preprocess,
    )

    devices = f'{jax.device_count()} x {jax.devices()[0].platform}'
    cores = len(os.sched_getaffinity(0))
    print(f'host: {cores} CPU cores, load average {os.getloadavg()[0]:.1f}; jax devices: {devices}')
    start = time.perf_counter()
    dataset = build_dataset(config.dataset, jax.process_index(), jax.process_count())
    print(
        f'{dataset.name}: {dataset.num_train:,} train images, {dataset.num_classes} classes, '
        f'indexed in {time.perf_counter() - start:.1f} s'
    )
    run = run_builder.build_run(
        config, dataset.num_train, dataset.num_classes, parallel.make_mesh()
    )
    plan, batch = run.plan, run.plan.process_batch

    # 1. The pipeline alone.
    stream = dataset.train_batches(batch, 0, 0)
    start = time.perf_counter()
    next(stream)
    first_s = time.perf_counter() - start
    for _ in range(5):  # let tf.data's autotuner settle
        next(stream)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(FLAGS.pipeline_batches):
        next(stream)
    pipeline_s = time.perf_counter() - start
    pipeline_cpu_s = time.process_time() - cpu_start  # all threads: the cost, whatever the load
    pipeline_images = FLAGS.pipeline_batches * batch

    # 2. The train step alone, on one batch already on the devices.
    sharding = run.batch_sharded
    state = run.state.init()
    step = run.train_step
    fixed = parallel.global_batch(next(stream), sharding)
    start = time.perf_counter()
    state, metrics = step(state, fixed)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(FLAGS.train_steps):
        state, metrics = step(state, fixed)
    jax.block_until_ready(metrics)
    step_s = time.perf_counter() - start

    # 3. Both together, as the training loop runs them.
    start = time.perf_counter()
    for _ in range(FLAGS.train_steps):
        state, metrics = step(state, parallel.global_batch(next(stream), sharding))
    jax.block_until_ready(metrics)
    both_s = time.perf_counter() - start
    step_images = FLAGS.train_steps * plan.global_batch

    model = f'ladder {FLAGS.block} widths {config.model.widths} depths {config.model.depths}'
    print(f'batch {plan.global_batch}, {FLAGS.image_size}x{FLAGS.image_size}, {FLAGS.preprocess}')
    print(
        f'  pipeline   {rate(pipeline_images, pipeline_s)}  (first batch {first_s:.2f} s; '
        f'{pipeline_images / pipeline_cpu_s:,.0f} images per CPU-second)'
    )
    print(f'  train step {rate(step_images, step_s)}  ({model}; compile {compile_s:.1f} s)')
    print(f'  together   {rate(step_images, both_s)}')
    bound = 'the model' if pipeline_images / pipeline_s > step_images / step_s else 'the pipeline'
    print(f'bound: {bound} (load average now {os.getloadavg()[0]:.1f})')


if __name__ == '__main__':
    app.run(main)
