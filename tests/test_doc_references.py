"""The modules, source files and links the READMEs and docs name exist: a module moved or
renamed, or a section moved to another doc, without its mentions fails here, not in a reader's
shell or browser."""

import importlib.util
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ['README.md', 'experiments/README.md', *(f'docs/{p.name}' for p in ROOT.glob('docs/*.md'))]
MODULE = re.compile(r'python3? -m ((?:lineage|experiments)(?:\.\w+)+)')
SOURCE = re.compile(r'\b((?:lineage|experiments|configs|tests)/[\w/]+\.py)\b')
# A markdown link's target, relative to the doc; web links and in-page anchors are not files.
LINK = re.compile(r'\]\((?!https?:|#)([^)#\s]+)')
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


def broken_links(doc: pathlib.Path) -> list[str]:
    """The relative links in `doc` whose target is not there."""
    return [t for t in LINK.findall(doc.read_text()) if not (doc.parent / t).exists()]


def test_broken_links_finds_a_missing_target(tmp_path):
    (tmp_path / 'here.md').write_text('x')
    doc = tmp_path / 'doc.md'
    doc.write_text('[ok](here.md) [web](https://a.b/c) [anchor](#x) [gone](../nowhere.md#y)')
    assert broken_links(doc) == ['../nowhere.md']


def test_every_link_in_the_docs_resolves():
    broken = [f'{doc}: {t}' for doc in DOCS for t in broken_links(ROOT / doc)]
    assert not broken
