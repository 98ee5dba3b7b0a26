"""PyTorch + timm's train step, timed: the peer lineage is measured against.

    .venv-peers/bin/python -m experiments.bench_workers.torch_worker --network=resnet50 \
        --image_size=32 --batch_size=128

The timm model of the same architecture (`TIMM_NAMES`), float32, channels_last (PyTorch's
fast CPU layout for convs), train mode, cross-entropy, SGD with momentum: forward, backward and
update per step, eager, on PyTorch's default CPU threads.
"""

from __future__ import annotations

import time

import timm
import torch

from experiments.bench_workers import protocol

# lineage's name -> timm's model of the same architecture ('legacy_xception' is Chollet's).
TIMM_NAMES = {
    'mobilenet_v2': 'mobilenetv2_100',
    'resnet50': 'resnet50',
    'xception': 'legacy_xception',
    'inception_v3': 'inception_v3',
}


def main() -> None:
    args = protocol.parse_args(__doc__.splitlines()[0])
    if args.network not in TIMM_NAMES:
        raise ValueError(f'no timm model for {args.network!r}; add it to TIMM_NAMES')
    torch.manual_seed(0)
    start, cpu = time.perf_counter(), time.process_time()
    model = timm.create_model(TIMM_NAMES[args.network], num_classes=args.num_classes)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=args.momentum)
    init_s, init_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, args.num_classes, (args.batch_size,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def one_step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    start, cpu = time.perf_counter(), time.process_time()
    one_step()
    first_step_s, first_step_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    step_s, cpu_s = protocol.time_steps(one_step, args.warmup, args.steps)
    protocol.emit(
        args,
        'torch',
        step_s,
        cpu_s,
        params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        init_s=round(init_s, 2),
        init_cpu_s=round(init_cpu_s, 2),
        first_step_s=round(first_step_s, 2),
        first_step_cpu_s=round(first_step_cpu_s, 2),
        threads=torch.get_num_threads(),
        version=f'torch {torch.__version__}, timm {timm.__version__}',
    )


if __name__ == '__main__':
    main()
