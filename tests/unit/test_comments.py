"""Comments and docstrings of the code say what and why: no benchmark figures, no commit hashes.

Figures go stale in code; they live in docs/benchmarks.md, each with its command and date.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("projector", "enrichlog", "schemas", "producers")
# A commit hash: 7 to 40 hex digits with at least one letter and one digit.
HASH = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")
# A measured figure: a number with a unit of speed, size or share.
FIGURE = re.compile(r"\d[\d,.]*\s*(?:events?/s|ev/s|MB|GB|KB|µs|%|x faster|times faster)", re.I)


def prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring of a module's source."""
    out: list[tuple[int, str]] = []
    previous = None
    docstring_after = (None, tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        is_docstring = token.type == tokenize.STRING and previous in docstring_after
        if token.type == tokenize.COMMENT or is_docstring:
            out.append((token.start[0], token.string))
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token.type
    return out


def findings(source: str) -> list[str]:
    return [f"{line}: {m.group(0)!r}" for line, text in prose(source)
            for pattern in (HASH, FIGURE) for m in pattern.finditer(text)]


def test_the_scanner_finds_figures_and_hashes_in_comments_and_docstrings() -> None:
    source = '"""Module, 12,000 events/s."""\nx = 1  # since 4a9ef7e\ny = "300 MB, not prose"\n'
    assert findings(source) == ["1: '12,000 events/s'", "2: '4a9ef7e'"]


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for package in PACKAGES
                                        for p in (ROOT / package).rglob("*.py")))
def test_no_figures_or_hashes_in_comments(path: str) -> None:
    assert findings((ROOT / path).read_text()) == [], f"{path}: move figures to docs/benchmarks.md"
