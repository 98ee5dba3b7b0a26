"""The modules and source files the READMEs and docs name exist: a module moved or renamed
without its mentions fails here, not in a reader's shell."""

import importlib.util
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ['README.md', 'experiments/README.md', *(f'docs/{p.name}' for p in ROOT.glob('docs/*.md'))]
MODULE = re.compile(r'python3? -m ((?:lineage|experiments)(?:\.\w+)+)')
SOURCE = re.compile(r'\b((?:lineage|experiments|configs|tests)/[\w/]+\.py)\b')
# The file docs/add_a_block.md has the reader write.
WRITTEN_BY_READER = {'lineage/blocks/my_fire.py'}


def mentions(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    """What `pattern` captures in each doc, by doc."""
    return {doc: set(pattern.findall((ROOT / doc).read_text())) for doc in DOCS}


def test_the_docs_name_modules_and_files():
    assert 'experiments.run_sweep' in mentions(MODULE)['README.md']
    assert 'lineage/train.py' in mentions(SOURCE)['README.md']


def test_every_module_the_docs_run_exists():
    missing = [
        f'{doc}: python -m {name}'
        for doc, names in mentions(MODULE).items()
        for name in sorted(names)
        if importlib.util.find_spec(name) is None
    ]
    assert not missing


def test_every_source_file_the_docs_name_exists():
    missing = [
        f'{doc}: {path}'
        for doc, paths in mentions(SOURCE).items()
        for path in sorted(paths)
        if not (ROOT / path).is_file() and path not in WRITTEN_BY_READER
    ]
    assert not missing
