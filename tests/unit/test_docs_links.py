"""The docs stand on their own in a fresh clone: every relative link in README.md and docs/*.md names a
file in the repository (and a heading in it, when it has an #anchor), and no page sends the reader
outside the repository (issue 14: docs pointed at ``../shared/reference/hss-api.md``, which a clone
does not have). Also: figures stated in two places say the same (the function's build size).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.pack import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
CODE_SPAN_PATH = re.compile(r"`(\.\./[^`\s]+)`")  # a path outside the page's folder, named in prose
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, …


def prose(text: str) -> str:
    """The page without fenced code blocks (shell samples are not links)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower-case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose(page.read_text()).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        base = slug(heading.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(re.findall(r'<a\s+(?:name|id)="([^"]+)"', page.read_text()))
    return found


def links(page: Path) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", prose(page.read_text()))  # `[report](…)` in a code span is no link
    targets = INLINE_LINK.findall(text) + IMAGE_LINK.findall(text) + REFERENCE_DEF.findall(text)
    return [t for t in targets if not EXTERNAL.match(t)]


def broken(page: Path, target: str) -> str | None:
    """Why ``target`` (relative to ``page``) does not resolve inside the repository, or None."""
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.is_relative_to(ROOT):
        return "outside the repository (a fresh clone does not have it)"
    if not resolved.exists():
        return "no such file"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"no heading #{anchor} in {resolved.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    problems = [f"{target}: {why}" for target in links(page) if (why := broken(page, target))]
    assert problems == [], f"{page.relative_to(ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_names_a_file_a_clone_does_not_have(page: Path) -> None:
    """A path named in prose as `../…` is read from the page's folder, like a link."""
    missing = [path for path in CODE_SPAN_PATH.findall(prose(page.read_text())) if broken(page, path)]
    assert missing == [], f"{page.relative_to(ROOT)} names {missing}: bring the facts into the repository"


def test_the_checker_recognises_what_it_must() -> None:
    """The checker itself, on a page written for it: it must not pass everything."""
    page = ROOT / "docs" / "hss.md"
    assert broken(page, "../shared/reference/hss-api.md") == "no such file"
    assert broken(page, "../../elsewhere.md") == "outside the repository (a fresh clone does not have it)"
    assert broken(page, "nosuch.md") == "no such file"
    assert broken(page, "policies.md#no-such-heading") == "no heading #no-such-heading in docs/policies.md"
    assert broken(page, "policies.md") is None
    assert links_in("see [the API](../x.md) and [web](https://example.com) and [top](#paging)") == [
        "../x.md",
        "#paging",
    ]
    assert slug("`HSS_ENDPOINT` and the emulator: a recipe!") == "hss_endpoint-and-the-emulator-a-recipe"


def links_in(text: str) -> list[str]:
    return [t for t in INLINE_LINK.findall(text) if not EXTERNAL.match(t)]


BUILD_SIZE = re.compile(r"(\d+) MB unpacked, (\d+) MB zipped")


def test_the_build_size_is_the_same_wherever_it_is_stated() -> None:
    """requirements.txt and deployment.md once disagreed (43 MB vs 54 MB unpacked)."""
    stated = {
        name: BUILD_SIZE.findall((ROOT / name).read_text().replace("\n# ", " "))
        for name in ("functions/checker/requirements.txt", "docs/deployment.md")
    }
    assert all(stated.values()), stated
    assert len({figure for figures in stated.values() for figure in figures}) == 1, stated


def test_the_field_table_explains_every_field_a_condition_can_use_once() -> None:
    """docs/policies.md, "Fields a condition can use": one row per ImageLocalInfo field the code reads,
    each with its meaning and whose value it is (the image's, the record's, or open)."""
    from imagewatch.hss.model import IMAGE_FIELDS

    text = (ROOT / "docs" / "policies.md").read_text()
    section = text.split("## Fields a condition can use", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    fields = [row[0].strip("| `") for row in rows]
    assert sorted(fields) == sorted(IMAGE_FIELDS) and len(fields) == len(set(fields))
    assert all(
        row[2].strip() and row[-1].strip(" |").startswith(("the image's", "the record's", "open"))
        for row in rows
    )
