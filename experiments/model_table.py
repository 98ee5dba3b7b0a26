"""The README's table of reference networks: our parameter and MAC counts beside the papers'.

  python -m experiments.model_table                     # markdown to stdout
  python -m experiments.model_table --output=table.md

Each registered reference network is built abstractly (`nnx.eval_shape`: no weights, no compute)
at 1,000 classes with its registry defaults (no auxiliary heads), counted by `lineage.counting`
(trainable parameters, BatchNorm scale and offset included, running statistics excluded) and
traced at the input size it is registered with (its paper's) for MACs (every kernel tap,
padded ones included, as the papers count multiply-adds). The published figures are quoted
with their sources below; where a paper gives none the cell says n/a, or names the non-paper
source it comes from.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence

from absl import app, flags
from flax import nnx

from experiments import markdown
from lineage import counting
from lineage.models import build_model, model_info, model_names

FLAGS = flags.FLAGS
flags.DEFINE_string('output', None, 'Write the markdown here instead of stdout.')


@dataclasses.dataclass(frozen=True)
class Published:
    """A network's published size; each figure is `(value as printed, source)` or None."""

    title: str
    params: tuple[str, str] | None
    macs: tuple[str, str] | None
    note: str = ''  # where our network differs from the one the figure describes
    aux: bool = False  # has optional auxiliary classifiers (`aux_logits=True`), left out here


# Sources, quoted as the papers print them:
GOOGLENET = 'Szegedy et al. 2014, Going Deeper with Convolutions'
INCEPTION_V3 = 'Szegedy et al. 2015, Rethinking the Inception Architecture'
XCEPTION = 'Chollet 2017, Xception'
MOBILENET = 'Howard et al. 2017, MobileNets'
MOBILENET_V2 = 'Sandler et al. 2018, MobileNetV2'
RESNET = 'He et al. 2015, Deep Residual Learning'
TORCHVISION = 'torchvision docs, ResNet50_Weights.IMAGENET1K_V1 num_params'

PUBLISHED = {
    'googlenet': Published(
        'GoogLeNet',
        ('5M', f'{INCEPTION_V3}, Sec. 1: "GoogLeNet employed only 5 million parameters"'),
        ('1.5G', f'{GOOGLENET}, Sec. 1: "a computational budget of 1.5 billion multiply-adds"'),
        note="ours keeps the paper's 5x5 towers (torchvision's googlenet has 3x3 there) and puts "
        'BatchNorm after every conv',
        aux=True,
    ),
    'inception_v3': Published(
        'Inception v3',
        ('< 25M', f'{INCEPTION_V3}, abstract: "less than 25 million parameters"'),
        ('5G', f'{INCEPTION_V3}, abstract: "5 billion multiply-adds per inference"'),
        aux=True,
    ),
    'xception': Published(
        'Xception',
        ('22,855,952', f'{XCEPTION}, Table 3'),
        None,  # the paper reports no multiply-add count
    ),
    'mobilenet_v1': Published(
        'MobileNet v1 (alpha 1.0)',
        ('4.2M', f'{MOBILENET}, Table 8'),
        ('569M', f'{MOBILENET}, Table 8 (Mult-Adds)'),
    ),
    'mobilenet_v2': Published(
        'MobileNet v2 (width 1.0)',
        ('3.4M', f'{MOBILENET_V2}, Table 4'),
        ('300M', f'{MOBILENET_V2}, Table 4 (MAdds)'),
    ),
    'resnet50': Published(
        'ResNet-50',
        ('25,557,032', f'{TORCHVISION} (the paper gives no count)'),
        ('3.8G', f'{RESNET}, Table 1 ("FLOPs", counted as multiply-adds)'),
        # Each of the 3 downsampling bottlenecks runs its 1x1 reduce at the input grid instead
        # of the output grid: 56*56*256*128 - 28*28*256*128 = 77,070,336 MACs, the same at
        # every stage (channels double as the grid halves).
        note='ours is v1.5 (stride on the 3x3, as torchvision), 3 x 77.07M = 231M MACs more '
        "than the paper's stride-on-the-1x1 layout",
    ),
}


@dataclasses.dataclass(frozen=True)
class Measured:
    name: str
    resolution: int
    params: int
    macs: int
    params_with_aux: int | None = None


def measure(name: str, resolution: int, num_classes: int = 1000, aux: bool = False) -> Measured:
    """Parameters and per-example MACs of registered model `name` at `resolution`x`resolution`.

    With `aux`, also the parameters with its auxiliary classifiers (`aux_logits=True`).
    """

    def build(**options):
        return nnx.eval_shape(
            lambda: build_model(name, num_classes=num_classes, rngs=nnx.Rngs(0), **options)
        )

    table = counting.layer_table(build(), (resolution, resolution, 3))
    with_aux = counting.param_count(build(aux_logits=True)) if aux else None
    return Measured(name, resolution, table.params, table.macs, with_aux)


def _si(n: int) -> str:
    return f'{n / 1e9:.2f}G' if n >= 1e9 else f'{n / 1e6:.0f}M'


def render(rows: Sequence[tuple[Measured, Published]]) -> str:
    """The markdown table, one row per network, and its numbered sources."""
    sources: list[str] = []

    def cite(figure: tuple[str, str] | None) -> str:
        if figure is None:
            return 'n/a'
        value, source = figure
        if source not in sources:
            sources.append(source)
        return f'{value} [{sources.index(source) + 1}]'

    notes: list[str] = []
    columns = [
        'network',
        'input',
        'params (ours)',
        'params (published)',
        'MACs (ours)',
        'MACs (published)',
    ]
    lines = markdown.header(columns, right=range(1, len(columns)))
    for m, p in rows:
        title = p.title
        note = p.note
        if m.params_with_aux is not None:
            aux = f'no auxiliary classifiers; {m.params_with_aux:,} parameters with them'
            note = f'{note}; {aux}' if note else aux
        if note:
            notes.append(note)
            title += f' ({"abcdefgh"[len(notes) - 1]})'
        lines.append(
            markdown.row(
                [
                    f'{title} (`{m.name}`)',
                    m.resolution,
                    f'{m.params:,}',
                    cite(p.params),
                    _si(m.macs),
                    cite(p.macs),
                ]
            )
        )
    cited = [f'- [{i}] {s}' for i, s in enumerate(sources, 1)]
    lettered = [f'- ({"abcdefgh"[i]}) {note}' for i, note in enumerate(notes)]
    footer = 'Generated by `python -m experiments.model_table`.'
    return '\n'.join([*lines, '', *cited, *lettered, '', footer])


def table() -> str:
    """The README table for every network of `PUBLISHED` that is registered."""
    registered = set(model_names())
    rows = [
        (measure(name, model_info(name).input_size, aux=p.aux), p)
        for name, p in PUBLISHED.items()
        if name in registered
    ]
    return render(rows)


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    missing = [name for name in PUBLISHED if name not in model_names()]
    if missing:
        print(f'model_table: not registered (left out): {", ".join(missing)}', file=sys.stderr)
    text = table()
    if FLAGS.output:
        with open(FLAGS.output, 'w') as f:
            f.write(text + '\n')
    else:
        print(text)


if __name__ == '__main__':
    app.run(main)
