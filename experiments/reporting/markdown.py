"""Markdown tables, the one way experiments/ writes them: a header with its rule, then rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def row(cells: Iterable[object]) -> str:
    """`| a | b | c |`: one table row, each cell as `str()` gives it."""
    return '| ' + ' | '.join(str(cell) for cell in cells) + ' |'


def header(columns: Sequence[str], right: Sequence[int] = ()) -> list[str]:
    """The header row and the rule under it; the columns indexed in `right` align right."""
    rule = ''.join('---:|' if i in right else '---|' for i in range(len(columns)))
    return [row(columns), '|' + rule]
