"""The house limits on size, checked on the source tree: no file over 400 lines, no function
over 80 (CONVENTIONS.md, "Layout"). A reader takes a file or a function in at one sitting."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80


def sources() -> list[pathlib.Path]:
    folders = ('lineage', 'experiments', 'tests', 'configs')
    return sorted(p for folder in folders for p in (ROOT / folder).rglob('*.py'))


def long_functions(path: pathlib.Path) -> list[str]:
    """`name (N lines)` for each function or method in `path` longer than the limit."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f'{node.name} ({lines} lines)')
    return found


def test_the_tree_has_sources():
    names = {p.relative_to(ROOT).as_posix() for p in sources()}
    assert {'lineage/main.py', 'experiments/run_sweep.py', 'tests/conftest.py'} <= names


def test_no_file_or_function_over_the_limits():
    over = []
    for path in sources():
        name = path.relative_to(ROOT).as_posix()
        if (lines := path.read_text().count('\n')) > MAX_FILE_LINES:
            over.append(f'{name}: {lines} lines')
        over += [f'{name}: {function}' for function in long_functions(path)]
    assert not over


def test_the_function_check_catches_a_long_function(tmp_path):
    body = '\n'.join(f'    x{i} = {i}' for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / 'long.py'
    path.write_text(f'def short():\n    pass\n\n\ndef long():\n{body}\n')
    assert long_functions(path) == [f'long ({MAX_FUNCTION_LINES + 1} lines)']
