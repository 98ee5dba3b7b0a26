"""Per-layer table of any registered block or model: path, layer, output shape, params, MACs.

The table a researcher pastes into a paper, computed under `jax.eval_shape` (nothing is run):

  python -m lineage.summary --block=plain3x3 --in_features=64 --out_features=128 --input_size=32
  python -m lineage.summary --block=spectrum --option=groups=8 --format=markdown
  python -m lineage.summary --model=resnet50 --num_classes=1000

`--option=k=v` (repeatable) passes a builder option; values are Python literals where they
parse (`4`, `(1, 7)`, `True`) and strings otherwise (`relu6`). MACs count every kernel tap,
padded ones included, as the papers do (see `lineage.counting`). An unknown block or model
name prints one line listing the choices and exits with status 2.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Sequence
from typing import Any

from absl import app, flags
from flax import nnx

from lineage import counting
from lineage.blocks import build_block
from lineage.blocks.registry import BLOCKS
from lineage.models import build_model, model_info
from lineage.models.registry import configs_for, unknown_options

FLAGS = flags.FLAGS
flags.DEFINE_string('block', None, 'Registered block name (see lineage.blocks).')
flags.DEFINE_string('model', None, 'Registered model name (see lineage.models).')
flags.DEFINE_integer('in_features', 64, 'Block input channels.', lower_bound=1)
flags.DEFINE_integer('out_features', 128, 'Block output channels.', lower_bound=1)
flags.DEFINE_integer('strides', 1, 'Block stride.')
flags.DEFINE_integer('num_classes', 1000, 'Model classes.', lower_bound=1)
flags.DEFINE_integer(
    'input_size',
    None,
    "Input height and width; default 32 for blocks, a model's registered input size "
    '(299 for inception_v3 and xception, 32 for *_cifar models, 224 for most others).',
    lower_bound=1,
)
flags.DEFINE_multi_string('option', [], 'Builder option k=v (repeatable).')
flags.DEFINE_enum('format', 'text', ['text', 'markdown'], 'Aligned text or a markdown table.')

HEADER = ('path', 'layer', 'output', 'params', 'MACs')


def default_input_size(model: str | None) -> int:
    """32 for blocks; for a model, the input size it is registered with (`ModelInfo`)."""
    return 32 if model is None else model_info(model).input_size


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """`['groups=4', 'act=relu6']` -> `{'groups': 4, 'act': 'relu6'}`.

    Raises:
      ValueError: for an item without '='.
    """
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition('=')
        if not sep or not key:
            raise ValueError(f'--option={pair!r}: write it as key=value, e.g. --option=groups=4')
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text
    return options


def _shape(shape: tuple) -> str:
    if shape and isinstance(shape[0], tuple):  # several outputs
        return ', '.join(_shape(s) for s in shape)
    return 'x'.join(map(str, shape))


def _si(n: float) -> str:
    for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if n >= scale:
            return f'{n / scale:.2f}{unit}'
    return str(n)


def format_table(table: counting.LayerTable, title: str, fmt: str = 'text') -> str:
    """Renders a `counting.LayerTable` as aligned text or a markdown table, totals last.

    Args:
      table: from `counting.layer_table`.
      title: a first line saying what was measured.
      fmt: 'text' or 'markdown'.

    Returns:
      The table and its totals (trainable params, BatchNorm running statistics, MACs).
    """
    rows = [
        (r.path, r.kind, _shape(r.output_shape), f'{r.params:,}', f'{r.macs:,}') for r in table.rows
    ]
    if table.untraced_params:
        rows.append(('(untraced layers)', '', '', f'{table.untraced_params:,}', '?'))
    total = ('total', '', _shape(table.output_shape), f'{table.params:,}', f'{table.macs:,}')
    notes = [
        f'params: {table.params:,} ({_si(table.params)}) trainable, BatchNorm scale and offset '
        f'included; BatchNorm running statistics: {table.batch_stats:,} more',
        f'MACs: {table.macs:,} ({_si(table.macs)}) per {_shape(table.input_shape)} example',
    ]
    if fmt == 'markdown':
        lines = [f'**{title}**', '', '| ' + ' | '.join(HEADER) + ' |']
        lines.append('|' + '|'.join(['---'] * 3 + ['---:'] * 2) + '|')
        lines += ['| ' + ' | '.join(f'`{c}`' if i == 0 else c for i, c in enumerate(row)) + ' |'
                  for row in rows]  # fmt: skip
        lines.append('| ' + ' | '.join(f'**{c}**' if c else '' for c in total) + ' |')
        return '\n'.join([*lines, '', *notes])
    widths = [max(len(row[i]) for row in [HEADER, *rows, total]) for i in range(len(HEADER))]

    def line(row):
        cells = [
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return '  '.join(cells).rstrip()

    rule = '-' * len(line(HEADER))
    return '\n'.join([title, line(HEADER), rule, *map(line, rows), rule, line(total), *notes])


def summarize(
    *,
    block: str | None = None,
    model: str | None = None,
    in_features: int = 64,
    out_features: int = 128,
    strides: int = 1,
    num_classes: int = 1000,
    input_size: int | None = None,
    options: dict[str, Any] | None = None,
    fmt: str = 'text',
) -> str:
    """The per-layer table of one registered block or model, as text.

    Raises:
      ValueError: unknown name (one line listing the choices), or not exactly one of
        `block`/`model`.
    """
    if (block is None) == (model is None):
        raise ValueError('give exactly one of --block=<name> or --model=<name>')
    options = options or {}
    size = input_size or default_input_size(model)
    if block is not None:
        BLOCKS.get(block)  # an unknown name: one line listing the choices, before tracing
        built = nnx.eval_shape(
            lambda: build_block(block, in_features, out_features, strides, rngs=nnx.Rngs(0),
                                **options)
        )  # fmt: skip
        shape = (size, size, in_features)
        title = f'block {block} ({in_features} -> {out_features}, stride {strides})'
    else:
        info = model_info(model)  # an unknown name: one line listing the choices
        try:
            built = nnx.eval_shape(
                lambda: build_model(model, num_classes=num_classes, rngs=nnx.Rngs(0), **options)
            )
        except TypeError:
            unknown = unknown_options(model, options, num_classes)
            if not unknown:
                raise
            fits = configs_for(model)
            where = f'the config.model fields of {fits[0]}' if fits else 'its constructor'
            raise ValueError(
                f'model {model!r} takes no option {", ".join(map(repr, unknown))}; its options: '
                f'see {where}'
            ) from None
        shape = (size, size, options.get('in_channels', info.in_channels))
        title = f'model {model} ({num_classes} classes)'
    if options:
        title += ' ' + ', '.join(f'{k}={v!r}' for k, v in options.items())
    title += f' on {_shape(shape)}'
    return format_table(counting.layer_table(built, shape), title, fmt)


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    try:
        text = summarize(
            block=FLAGS.block,
            model=FLAGS.model,
            in_features=FLAGS.in_features,
            out_features=FLAGS.out_features,
            strides=FLAGS.strides,
            num_classes=FLAGS.num_classes,
            input_size=FLAGS.input_size,
            options=parse_options(FLAGS.option),
            fmt=FLAGS.format,
        )
    except (ValueError, TypeError) as error:  # bad name or option: one line, no traceback
        given = ''.join(f' --option={pair}' for pair in FLAGS.option)
        print(f'lineage.summary: {error}' + (f' (given{given})' if given else ''), file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == '__main__':
    app.run(main)
