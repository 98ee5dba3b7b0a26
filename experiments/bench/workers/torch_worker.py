"""PyTorch + timm's train step, timed: the peer lineage is measured against.

    .venv-peers/bin/python -m experiments.bench.workers.torch_worker --network=resnet50 \
        --peer_model=resnet50 --image_size=32 --batch_size=128

    .venv-peers/bin/python -m experiments.bench.workers.torch_worker --network=ladder \
        --image_size=32 --batch_size=64 --num_classes=10 \
        --options='{"model": {"block": "separable", "widths": [16, 32, 64], "depths": [1, 1, 1]},
                    "nesterov": true}'

The timm model of the same architecture (`--peer_model`, which experiments/train_benchmark.py
takes from lineage's `ModelInfo.timm`), or for `--network=ladder` the twin of
lineage's ladder in experiments/bench/workers/torch_ladder.py (options: `model`, the ladder's
`block`, `widths`, `depths`; `nesterov`), float32, channels_last (PyTorch's fast CPU layout for
convs), train mode, cross-entropy, SGD with momentum: forward, backward and update per step,
eager, on PyTorch's default CPU threads.
"""

from __future__ import annotations

import json
import time

import torch

from experiments.bench.workers import protocol


def build(
    network: str, peer_model: str | None, num_classes: int, options: dict
) -> tuple[torch.nn.Module, str]:
    """The model for `network` (timm's `peer_model`) and the version line of what built it."""
    if network == 'ladder':
        from experiments.bench.workers.torch_ladder import Ladder

        model = Ladder(num_classes=num_classes, **options['model'])
        return model, f'torch {torch.__version__}'
    if not peer_model:
        raise ValueError(f'no timm model for {network!r} (its ModelInfo.timm)')
    import timm

    model = timm.create_model(peer_model, num_classes=num_classes)
    return model, f'torch {torch.__version__}, timm {timm.__version__}'


def main() -> None:
    args = protocol.parse_args(__doc__.splitlines()[0])
    options = json.loads(args.options)
    torch.manual_seed(0)
    start, cpu = time.perf_counter(), time.process_time()
    model, version = build(args.network, args.peer_model, args.num_classes, options)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=args.learning_rate,
        momentum=args.momentum,
        nesterov=options.get('nesterov', False),
    )
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

    protocol.time_and_emit(
        args,
        'torch',
        one_step,
        (init_s, init_cpu_s),
        params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        threads=torch.get_num_threads(),
        version=version,
    )


if __name__ == '__main__':
    main()
