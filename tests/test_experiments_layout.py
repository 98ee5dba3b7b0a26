"""The rooms of experiments/: the commands at the top, and the sweep runner free of the benchmarks.

experiments/ holds the three commands users type (`run_sweep`, `report`, `train_benchmark`) and a
few modules every room shares, and three rooms: sweeping/, reporting/ and bench/. The sweep
runner must not depend on the benchmarks (a benchmark's change must not break a sweep), and no
module reads its constants from a benchmark's command.
"""

import ast
import importlib
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(ROOT, 'experiments')
MAX_TOP_LEVEL = 10
COMMANDS = ('experiments.run_sweep', 'experiments.report', 'experiments.train_benchmark')


def imported_modules(source: str, package: str) -> set[str]:
    """Every module `source` imports (at the top or inside a function), as dotted names; for
    `from a import b`, both `a` and `a.b` (b may be a module). `package` resolves relative
    imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')[: len(package.split('.')) - node.level + 1]
                base = '.'.join([*parts, *([base] if base else [])])
            names.add(base)
            names.update(f'{base}.{alias.name}' for alias in node.names)
    return names


def experiments_modules() -> dict[str, str]:
    """Dotted name -> path of every module under experiments/."""
    modules = {}
    for directory, dirs, files in os.walk(EXPERIMENTS):
        dirs[:] = [d for d in dirs if d not in ('results', '__pycache__')]
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, ROOT).removesuffix('.py')
                modules[relative.replace(os.sep, '.')] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """experiments module -> the experiments modules it imports."""
    modules = experiments_modules()
    graph = {}
    for name, path in modules.items():
        with open(path) as f:
            imported = imported_modules(f.read(), name.rpartition('.')[0])
        graph[name] = {m for m in imported if m in modules}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for module in graph[todo.pop()] - seen:
            seen.add(module)
            todo.append(module)
    return seen


def test_the_import_reader_finds_imports_inside_functions_and_relative_ones():
    source = (
        'import os\n'
        'from experiments.sweeping import sweeps\n'
        'def f():\n'
        '    from experiments.bench import timing\n'
        'from ..bench.workers import protocol\n'
    )
    names = imported_modules(source, 'experiments.sweeping')
    assert {'os', 'experiments.sweeping.sweeps', 'experiments.bench.timing'} <= names
    assert 'experiments.bench.workers.protocol' in names


def test_experiments_top_level_holds_at_most_ten_modules():
    top = sorted(n for n in os.listdir(EXPERIMENTS) if n.endswith('.py'))
    assert {f'{c.rpartition(".")[2]}.py' for c in COMMANDS} <= set(top)
    assert len(top) <= MAX_TOP_LEVEL, top


def test_no_sweeping_module_reaches_the_benchmarks():
    graph = import_graph()
    sweeping = [m for m in graph if m.startswith('experiments.sweeping.')]
    assert 'experiments.sweeping.estimate' in sweeping
    for module in sweeping:
        bench = sorted(m for m in reachable(graph, module) if m.startswith('experiments.bench.'))
        assert not bench, f'{module} imports (through others) {bench}'


def test_no_module_reads_constants_from_a_benchmark_command():
    graph = import_graph()
    users = sorted(m for m, imported in graph.items() if 'experiments.train_benchmark' in imported)
    assert users == []


@pytest.mark.parametrize('command', COMMANDS)
def test_the_three_commands_import_with_a_main(command):
    module = importlib.import_module(command)
    assert callable(module.main)
