"""The documentation stays navigable: a short front page, every page reachable, no dead links.

README.md is the front page (what Yihao is, the quick start, short worked examples, links);
the details live under docs/. These checks keep it that way as the project grows: the README
stays short, every page under docs/ is linked from the front page or the docs index, every
relative link (and its #anchor) points at something that exists, and every environment
variable the product reads is documented in docs/operations.md.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from services.common.config import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DOCS_INDEX = DOCS / "README.md"
OPERATIONS = DOCS / "operations.md"

#: The front page's budget: a newcomer reads it whole.
README_MAX_BYTES = 15_000

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _markdown_files() -> list[Path]:
    """The front page, every page under docs/, and the deployment guides."""
    files = [README, *sorted(DOCS.rglob("*.md"))]
    files += sorted((ROOT / "deploy").rglob("README.md"))
    return files


def _prose(text: str) -> str:
    """The text without fenced code blocks or inline code (links there are not links)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _links(path: Path) -> list[str]:
    return _LINK.findall(_prose(path.read_text(encoding="utf-8")))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).strip().lower()
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "-_" or category[0] in "LN" or category == "Mn":
            kept.append(ch)
        elif ch == " ":
            kept.append("-")
    return "".join(kept)


def _anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file defines, with GitHub's -1, -2 … for repeated headings."""
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def test_readme_is_a_short_front_page() -> None:
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, (
        f"README.md is {size} bytes (limit {README_MAX_BYTES}): move details under docs/"
    )
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text, "the quick start's two commands"
    assert "docs/README.md" in _links(README), "the front page links the docs index"


def test_every_docs_page_is_linked_from_the_readme_or_the_docs_index() -> None:
    linked: set[Path] = set()
    for source in (README, DOCS_INDEX):
        for target in _links(source):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            linked.add((source.parent / target.split("#", 1)[0]).resolve())
    pages = {page.resolve() for page in DOCS.rglob("*.md")} - {DOCS_INDEX.resolve()}
    orphans = sorted(str(page.relative_to(ROOT)) for page in pages - linked)
    assert orphans == [], f"not linked from README.md or docs/README.md: {orphans}"


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in _links(path):
        if "://" in target or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert broken == [], f"{path.relative_to(ROOT)}: {broken}"


def test_every_environment_variable_is_documented_in_operations() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    missing = sorted(name for name in ENVIRONMENT if f"`{name}`" not in text)
    assert missing == [], f"read by services.common.config, not in docs/operations.md: {missing}"


def test_the_checks_see_links_and_anchors() -> None:
    """The helpers above find what they must, so the checks cannot pass by finding nothing."""
    assert _slug("Worked example: administrative assistance (行政协助)") == (
        "worked-example-administrative-assistance-行政协助"
    )
    assert "quick-start" in _anchors(README)
    assert "docs/README.md" in _links(README)
    assert _links(DOCS_INDEX), "the docs index links its pages"
    assert "configuration" in _anchors(OPERATIONS)
