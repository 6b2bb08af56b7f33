"""Marked sections of docs/benchmarks.md: the parts one writer owns, kept when another rewrites the rest.

A section is ``<!-- bench.NAME: begin -->``, its Markdown, ``<!-- bench.NAME: end -->``. A report that has
no new text for a section puts the line ``<!-- bench.NAME: keep -->`` where it goes, and `keep_previous`
fills that place with the previous document's section of that name.
"""

from __future__ import annotations

import re

__all__ = ["begin", "end", "find", "keep", "keep_previous", "marked", "names", "replace"]

_BEGIN = re.compile(r"<!-- bench\.([\w.-]+): begin -->")
_KEEP = re.compile(r"^<!-- bench\.([\w.-]+): keep -->\n?", re.MULTILINE)


def begin(name: str) -> str:
    """The line that opens section `name`."""
    return f"<!-- bench.{name}: begin -->"


def end(name: str) -> str:
    """The line that closes section `name`."""
    return f"<!-- bench.{name}: end -->"


def keep(name: str) -> str:
    """The line a report puts where section `name` goes when it has no new text for it."""
    return f"<!-- bench.{name}: keep -->"


def marked(name: str, body: str) -> str:
    """`body` (Markdown) as section `name`, markers included."""
    return f"{begin(name)}\n{body.strip(chr(10))}\n{end(name)}"


def find(doc: str, name: str) -> str:
    """Section `name` of `doc`, markers included; "" when it has none."""
    start = doc.find(begin(name))
    if start < 0:
        return ""
    stop = doc.find(end(name), start)
    if stop < 0:
        return ""
    return doc[start : stop + len(end(name))]


def names(doc: str) -> list[str]:
    """The names of `doc`'s sections, in order."""
    return [match.group(1) for match in _BEGIN.finditer(doc) if find(doc, match.group(1))]


def replace(doc: str, name: str, section: str) -> str:
    """`doc` with section `name` replaced by `section` (appended when it has none; unchanged for "")."""
    if not section:
        return doc
    current = find(doc, name)
    if current:
        return doc.replace(current, section, 1)
    return doc.rstrip("\n") + "\n\n" + section + "\n"


def keep_previous(doc: str, previous: str) -> str:
    """`doc` with each keep line filled by `previous`'s section of that name (or removed when `previous`
    has none), and every other section of `previous` that `doc` lacks appended at the end."""
    kept = set(_KEEP.findall(doc))

    def fill(match: re.Match[str]) -> str:
        section = find(previous, match.group(1))
        return section + "\n" if section else ""

    filled = re.sub(r"\n{3,}", "\n\n", _KEEP.sub(fill, doc))
    for name in names(previous):
        if name not in kept and not find(filled, name):
            filled = replace(filled, name, find(previous, name))
    return filled
