"""The sweep report's plots: top-1 against parameters and MACs, two- and three-arm comparisons,
and the learning curve.

Error bars are 95% t intervals of the mean over seeds (`sweep_table.Row.ci95`), and every axis says
so with its seed count. Each point takes its own colour and marker and its name sits in the
legend beside the axes, so no two labels can overlap however close the points lie. A sweep of
three points or fewer compares arms (`separable_act`, `linear_bottleneck`, `factorization`):
it is drawn as one dot and interval per arm, not as a scatter whose points share an x.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = 'osD^vP*Xh<>p'
COLORS = plt.get_cmap('tab10').colors
MAX_ARMS = 3  # a sweep of this many points or fewer is drawn as arms


def ci_label(rows: Sequence) -> str:
    """What the error bars are: '95% CI over 3 seeds', or over n seeds where n varies."""
    counts = sorted({len(r.top1) for r in rows if len(r.top1) > 1})
    if not counts:
        return 'one seed a point, no interval'
    if len(counts) == 1:
        return f'mean, 95% CI over {counts[0]} seeds'
    return f'mean, 95% CI over {counts[0]}..{counts[-1]} seeds (each in the legend)'


def _legend_name(row) -> str:
    n = len(row.top1)
    return f'{row.point} ({n} seed{"s" if n > 1 else ", no CI"})'


def _save(fig, ax, path: str, title: str) -> None:
    ax.set_title(title)
    ax.grid(True, which='both', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scatter(rows: Sequence, x: str, path: str, title: str, front: set[str] = frozenset()):
    """Mean top-1 with 95% CI bars against `x` ('params' or 'macs', log scale), a legend entry
    per point; the points of `front` (one budget's Pareto front) joined by a dashed line."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, r in enumerate(rows):
        ax.errorbar(
            getattr(r, x), 100 * r.top1_mean, yerr=100 * (r.ci95 or 0.0), capsize=3,
            fmt=MARKERS[i % len(MARKERS)], color=COLORS[i % len(COLORS)], label=_legend_name(r),
        )  # fmt: skip
    if front:
        pts = sorted((getattr(r, x), 100 * r.top1_mean) for r in rows if r.point in front)
        ax.plot(*zip(*pts, strict=True), '--', color='black', lw=0.8, label='Pareto front')
    ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_xscale('log')
    ax.set_xlabel('parameters' if x == 'params' else 'MACs per image')
    ax.set_ylabel(f'test top-1 (%)\n{ci_label(rows)}')  # two lines: one is taller than the axes
    _save(fig, ax, path, title)


def arms(rows: Sequence, path: str, title: str) -> None:
    """One dot and 95% CI bar per arm, side by side, each arm's mean written beside its dot and
    its parameters and MACs under its name."""
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(rows), 4.5))
    for i, r in enumerate(rows):
        mean = 100 * r.top1_mean
        ax.errorbar(i, mean, yerr=100 * (r.ci95 or 0.0), fmt='o', color=COLORS[i], capsize=5)
        ax.annotate(f'{mean:.2f}', (i, mean), textcoords='offset points', xytext=(8, -3),
                    fontsize=8)  # fmt: skip
    names = [f'{r.point}\n{r.params:,} params\n{r.macs / 1e6:.2f}M MACs' for r in rows]
    ax.set_xticks(range(len(rows)), names, fontsize=8)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel(f'test top-1 (%)\n{ci_label(rows)}')  # two lines: one is taller than the axes
    _save(fig, ax, path, title)


def curve(
    lines: dict[str, list[tuple[float, float]]], budgets: Sequence[float], seed: int, path: str,
    title: str,
) -> None:  # fmt: skip
    """The learning curve: top-1 of seed `seed` against `budgets` in epochs (log scale), a line
    per block, each value written under its dot."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for block, points in lines.items():
        ax.plot(*zip(*points, strict=True), 'o-', label=block)
        for epochs, top1 in points:
            ax.annotate(f'{top1:.2f}', (epochs, top1), fontsize=7,
                        textcoords='offset points', xytext=(4, -10))  # fmt: skip
    ax.set_xscale('log', base=2)
    ax.set_xticks(budgets, [f'{epochs:g}' for epochs in budgets], minor=False)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel('budget (epochs, each a full schedule)')
    ax.set_ylabel(f'test top-1 (%), seed {seed}')
    ax.legend(loc='lower right')
    _save(fig, ax, path, title)
