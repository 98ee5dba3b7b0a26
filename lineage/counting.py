"""Parameters and multiply-accumulates (MACs): analytic, per layer, and checked against XLA.

Conventions (those of the papers whose figures we put beside ours):
- Parameters are the trainable `nnx.Param` scalars, BatchNorm scale and offset included;
  BatchNorm running statistics are counted apart (`batch_stat_count`).
- MACs are per example and count every kernel tap, padded ones included:
  `H_out * W_out * k_h * k_w * (I / groups) * O` for a conv, `I * O` for a dense layer. This is
  what the GoogLeNet/MobileNet/ResNet papers call multiply-adds (ResNet's Table 1 says "FLOPs").
  Adds of BatchNorm, activations, pooling and residuals are not counted, as in those papers.

XLA's CPU `cost_analysis()` counts 2 flops per multiply-accumulate but skips the taps that fall on
padding, and adds the element-wise ops. `mac_ops` reads the conv and dot ops out of the traced
program so each can be compared with XLA alone: `Op.unpadded_macs * 2` is exactly XLA's count
for the op (tests/test_counting.py), and `Op.macs` equals the layer table's count.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.extend.core as jcore
import jax.numpy as jnp
from flax import nnx

from lineage import layer_trace
from lineage.blocks import conv_algorithms
from lineage.blocks.conv_bn import ConvBN, pair

# -- parameters ------------------------------------------------------------------------------


def _count(module: nnx.Module, kind: type[nnx.Variable]) -> int:
    # Works on abstract modules (nnx.eval_shape): leaves are ShapeDtypeStructs, only shapes used.
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(module, kind)))


def param_count(module: nnx.Module) -> int:
    """Trainable parameters (`nnx.Param` scalars); BatchNorm running statistics excluded."""
    return _count(module, nnx.Param)


def batch_stat_count(module: nnx.Module) -> int:
    """BatchNorm running statistics (`nnx.BatchStat` scalars: running means and variances)."""
    return _count(module, nnx.BatchStat)


def conv_params(
    kernel_size: int | Sequence[int],
    in_features: int,
    out_features: int,
    groups: int = 1,
    bias: bool = False,
) -> int:
    """`k_h * k_w * (I / groups) * O` (+ O with a bias): a conv's weights."""
    kh, kw = pair(kernel_size)
    return kh * kw * (in_features // groups) * out_features + (out_features if bias else 0)


def separable_params(
    kernel_size: int | Sequence[int], in_features: int, out_features: int, depth_multiplier: int = 1
) -> int:
    """A kxk depthwise conv (`depth_multiplier` filters per channel), then a 1x1 pointwise conv.

    Bias-free; `separable_params / conv_params = 1/O + 1/k^2` at depth multiplier 1.
    """
    mid = in_features * depth_multiplier
    depthwise = conv_params(kernel_size, in_features, mid, groups=in_features)
    return depthwise + conv_params(1, mid, out_features)


def dense_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """`I * O` (+ O with a bias)."""
    return in_features * out_features + (out_features if bias else 0)


def batchnorm_params(features: int) -> int:
    """BatchNorm's trainable scale and offset; its running statistics number the same."""
    return 2 * features


def conv_macs(
    output_hw: Sequence[int],
    kernel_size: int | Sequence[int],
    in_features: int,
    out_features: int,
    groups: int = 1,
) -> int:
    """A conv's MACs for one example: `H_out * W_out * k_h * k_w * (I / groups) * O`."""
    h, w = output_hw
    return h * w * conv_params(kernel_size, in_features, out_features, groups)


# -- per-layer table -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layer:
    """One recorded layer call: where it sits, what it is, what it produced and cost."""

    path: str
    kind: str
    output_shape: tuple[int, ...]  # one example, no batch axis
    params: int
    macs: int


@dataclasses.dataclass(frozen=True)
class LayerTable:
    """Rows in call order and the totals of the whole module."""

    rows: tuple[Layer, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]  # a tuple of shapes for a module with several outputs
    params: int  # param_count of the whole module
    batch_stats: int
    macs: int  # sum over rows
    ops: tuple[Op, ...]  # the conv and dot ops of the same trace (see `mac_ops`)

    @property
    def untraced_params(self) -> int:
        """Parameters of layers that never called `layer_trace.record` (0 for our blocks)."""
        seen = {row.path: row.params for row in self.rows}
        return self.params - sum(seen.values())


def describe(module: Any) -> str:
    """A short layer description: 'conv 3x3/2 dw', 'conv 1x7', 'dense', or the class name."""
    if isinstance(module, ConvBN):
        kh, kw = module.kernel_size
        text = f'conv {kh}x{kw}'
        if max(module.strides) > 1:
            s = module.strides
            text += f'/{s[0]}' if s[0] == s[1] else f'/{s[0]}x{s[1]}'
        if module.groups == module.in_features and module.groups > 1:
            text += ' dw'
        elif module.groups > 1:
            text += f' g{module.groups}'
        if max(module.dilation) > 1:
            text += f' d{module.dilation[0]}'
        if getattr(module, 'padding', 'same') == 'valid':
            text += ' valid'
        return text
    return type(module).__name__.lower()


def eval_forward(
    model: nnx.Module, input_shape: Sequence[int], inspect: Callable | None = None
) -> tuple[Callable, tuple[Any, jax.ShapeDtypeStruct], dict[str, Any]]:
    """A pure function running a copy of `model` in eval mode, for tracing or compiling.

    Convs are traced in their reference form (`lax.conv_general_dilated`, whatever
    form is set), so the program's conv ops are the layers counted here.

    Args:
      model: the module (concrete or abstract); it is left as it was, train/eval mode included.
      input_shape: `(H, W, C)` of one example.
      inspect: if given, `inspect(copy, forward)` is called inside the trace with the traced
        copy of the model and `forward()` running it, and the function returns 0.

    Returns:
      `(run, args, result)`: `run(*args)` is the forward pass (`args` = model state and an
      abstract batch of one float32 example); `result['value']` holds what `inspect` returned
      once `run` has been traced.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f'input_shape={input_shape}: give one example as (H, W, C)')
    graphdef, state = nnx.split(model)
    result: dict[str, Any] = {}

    def run(state, x):
        copy = nnx.merge(graphdef, state)
        copy.eval()
        with conv_algorithms.conv_impl('xla'):
            if inspect is None:
                return copy(x)
            result['value'] = inspect(copy, lambda: copy(x))
            return 0

    return run, (state, jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)), result


def layer_table(model: nnx.Module, input_shape: Sequence[int]) -> LayerTable:
    """The per-layer table of `model` on one `(H, W, C)` example, computed without any compute.

    Args:
      model: any module whose layers record themselves (`ConvBN`, `Dense`); may be abstract
        (from `nnx.eval_shape`).
      input_shape: `(H, W, C)` of one example.

    Returns:
      `LayerTable`: a row per recorded layer call (module path, kind, per-example output shape,
      its parameters, its MACs from `module.macs`), totals, and the conv/dot ops the same trace
      produced (whose `macs` sum to the table's when every layer records itself).
    """

    def inspect(copy, forward):
        paths = {id(m): '.'.join(map(str, p)) or '(root)' for p, m in nnx.iter_modules(copy)}
        with layer_trace.tracing() as tape:
            out = forward()
        rows = tuple(
            Layer(
                path=paths.get(id(m), '?'),
                kind=describe(m),
                output_shape=shape[1:],
                params=param_count(m),
                macs=int(m.macs(shape)),
            )
            for m, shape in tape
        )
        shapes = tuple(tuple(leaf.shape[1:]) for leaf in jax.tree.leaves(out))
        return rows, shapes[0] if len(shapes) == 1 else shapes

    run, args, result = eval_forward(model, input_shape, inspect)
    ops = mac_ops(run, *args)  # traces once (jax.make_jaxpr): shapes only, nothing computed
    rows, out_shape = result['value']
    return LayerTable(
        rows=rows,
        input_shape=tuple(input_shape),
        output_shape=out_shape,
        params=param_count(model),
        batch_stats=batch_stat_count(model),
        macs=sum(row.macs for row in rows),
        ops=tuple(ops),
    )


def total_macs(model: nnx.Module, input_shape: Sequence[int]) -> int:
    """MACs of `model` for one `(H, W, C)` example (the sum of `layer_table`'s rows)."""
    return layer_table(model, input_shape).macs


# -- the program's own MAC ops, and XLA's count ----------------------------------------------


def xla_flops(fn: Callable, *args: Any, platform: str | None = 'cpu') -> float | None:
    """XLA's flop count for `jax.jit(fn)(*args)` (compiled, not run), or None where it has none.

    Args:
      fn: the function; `args` may be abstract (`jax.ShapeDtypeStruct`).
      platform: compile for this platform's first device. 'cpu' (the default, always present)
        is where the count was checked against `Op.unpadded_macs`; None takes JAX's default.

    `cost_analysis()` has returned a dict, a list of per-device dicts, or None across versions,
    and -1 or no 'flops' key where the backend does not count (see `flops_from`).
    """
    if platform is None:
        return flops_from(jax.jit(fn).lower(*args).compile().cost_analysis())
    with jax.default_device(jax.devices(platform)[0]):
        return flops_from(jax.jit(fn).lower(*args).compile().cost_analysis())


def flops_from(cost: Any) -> float | None:
    """The 'flops' of a `cost_analysis()` result in any of its shapes; None where absent or -1."""
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    flops = cost.get('flops') if isinstance(cost, dict) else None
    return float(flops) if flops is not None and flops >= 0 else None


def _unpadded_taps(size: int, out: int, k: int, stride: int, dil: int, pad_lo: int, lhs: int):
    """Sum over output positions of the kernel taps that land on real (not padded) input."""
    extent = (size - 1) * lhs + 1  # input positions after lhs (transposed-conv) dilation
    total = 0
    for i in range(out):
        for j in range(k):
            pos = i * stride - pad_lo + j * dil
            total += 0 <= pos < extent and pos % lhs == 0
    return total


@dataclasses.dataclass(frozen=True)
class Op:
    """A conv or dot found in the traced program, counted for every call (`repeats` in scans)."""

    primitive: jcore.Primitive
    params: dict
    avals: tuple[jax.ShapeDtypeStruct, ...]
    macs: int  # every tap, as the layer table counts
    unpadded_macs: int  # taps on real input only, as XLA counts
    repeats: int

    def xla_flops(self, platform: str | None = 'cpu') -> float | None:
        """XLA's flops for this one op compiled alone (one call, not times `repeats`)."""
        bound = lambda *xs: self.primitive.bind(*xs, **self.params)
        return xla_flops(bound, *self.avals, platform=platform)


def _op_counts(eqn: jcore.JaxprEqn) -> tuple[int, int] | None:
    name = eqn.primitive.name
    if name not in ('dot_general', 'conv_general_dilated'):
        return None
    lhs, rhs = (v.aval.shape for v in eqn.invars[:2])
    out = eqn.outvars[0].aval.shape
    if name == 'dot_general':
        (contract, _), _ = eqn.params['dimension_numbers']
        macs = math.prod(out) * math.prod(lhs[d] for d in contract)
        return macs, macs
    p = eqn.params
    dn = p['dimension_numbers']
    in_spatial = [lhs[d] for d in dn.lhs_spec[2:]]
    kernel = [rhs[d] for d in dn.rhs_spec[2:]]
    out_spatial = [out[d] for d in dn.out_spec[2:]]
    # rhs's input-feature dim already holds I / groups; out's feature dim is O; batch times.
    per_tap = out[dn.out_spec[0]] * rhs[dn.rhs_spec[1]] * out[dn.out_spec[1]]
    per_tap //= p['batch_group_count']
    full = per_tap * math.prod(out_spatial) * math.prod(kernel)
    unpadded = per_tap * math.prod(
        _unpadded_taps(n, o, k, s, d, lo, ld)
        for n, o, k, s, d, (lo, _), ld in zip(
            in_spatial,
            out_spatial,
            kernel,
            p['window_strides'],
            p['rhs_dilation'],
            p['padding'],
            p['lhs_dilation'],
            strict=True,
        )
    )
    return full, unpadded


def _walk(jaxpr: jcore.Jaxpr, repeats: int, ops: list[Op]) -> None:
    for eqn in jaxpr.eqns:
        counts = _op_counts(eqn)
        if counts is not None:
            avals = tuple(jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in eqn.invars)
            ops.append(Op(eqn.primitive, dict(eqn.params), avals, *counts, repeats))
            continue
        if eqn.primitive.name in ('cond', 'while'):
            raise ValueError(
                f'{eqn.primitive.name} in the traced program: its MACs depend on data; '
                'count a model without data-dependent control flow'
            )
        times = eqn.params.get('length', 1) if eqn.primitive.name == 'scan' else 1
        for sub in jcore.jaxprs_in_params(eqn.params):
            _walk(sub, repeats * times, ops)


def mac_ops(fn: Callable, *args: Any) -> list[Op]:
    """Every conv and dot in the program `fn(*args)` traces to (`jax.make_jaxpr`: no compute).

    Ops inside `scan` count `length` times (`Op.repeats`); `cond`/`while` raise ValueError.
    """
    ops: list[Op] = []
    _walk(jax.make_jaxpr(fn)(*args).jaxpr, 1, ops)
    return ops
