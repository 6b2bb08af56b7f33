"""Marked sections of docs/benchmarks.md (bench/sections.py): replaced by their writer, kept by the others."""

from __future__ import annotations

from bench import sections


def test_a_section_is_replaced_in_place_or_appended() -> None:
    quality = sections.marked("quality", "## Quality\n| a | b |")
    doc = sections.replace("# Benchmarks\n\nold body\n", "quality", quality)
    assert doc == f"# Benchmarks\n\nold body\n\n{quality}\n"
    assert sections.find(doc, "quality") == quality
    newer = sections.marked("quality", "## Quality\n| c | d |")
    updated = sections.replace(doc + "\nafter\n", "quality", newer)
    assert sections.find(updated, "quality") == newer and updated.count(sections.begin("quality")) == 1
    assert updated.endswith("\nafter\n") and "| a | b |" not in updated
    assert sections.replace("# Benchmarks\n", "quality", "") == "# Benchmarks\n"


def test_a_section_without_its_end_marker_is_not_found() -> None:
    assert sections.find(f"{sections.begin('video')}\n## Video\n", "video") == ""
    assert sections.names(f"{sections.begin('video')}\n## Video\n") == []


def test_a_regenerated_report_keeps_every_section_of_the_previous_one_it_did_not_write() -> None:
    previous = "\n\n".join(
        [
            "# Old",
            sections.marked("memory", "## Memory, old"),
            sections.marked("video", "## Video, old"),
            sections.marked("guide", "## A section no writer knows"),
        ]
    )
    regenerated = "\n".join(
        [
            "# New",
            "",
            sections.keep("memory"),
            "",
            sections.marked("video", "## Video, new"),
            "",
            sections.keep("quality"),
            "",
            "## Method",
            "",
        ]
    )
    doc = sections.keep_previous(regenerated, previous)
    assert sections.find(doc, "memory") == sections.marked("memory", "## Memory, old")
    assert sections.find(doc, "video") == sections.marked("video", "## Video, new")
    assert sections.find(doc, "guide") == sections.marked("guide", "## A section no writer knows")
    assert sections.names(doc) == ["memory", "video", "guide"]
    assert "# Old" not in doc and "keep -->" not in doc and "\n\n\n" not in doc
    assert doc.index("## Method") < doc.index("## A section no writer knows")


def test_without_a_previous_report_the_keep_lines_go() -> None:
    doc = sections.keep_previous(f"# New\n\n{sections.keep('memory')}\n\n## Method\n", "")
    assert doc == "# New\n\n## Method\n"
