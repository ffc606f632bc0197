"""Report sectioning compatible with MIT-LCP's section_parser (source-formats.md §1.7)."""

from __future__ import annotations

from pathlib import Path

from imax.sources.sectioning import normalize_name, report_answer, section_text

TREE = Path(__file__).parent / "fixtures" / "mini" / "files" / "p10"


def test_example_report_findings() -> None:
    text = (TREE / "p10000032" / "s50414267.txt").read_text()
    names = [n for n, _ in section_text(text)]
    assert names == [
        "preamble",
        "examination",
        "indication",
        "technique",
        "comparison",
        "findings",
        "impression",
    ]
    name, body = report_answer(text)  # type: ignore[misc]
    assert name == "findings"
    assert body.startswith(
        "There is no focal consolidation, pleural effusion or pneumothorax. Bilateral nodular"
    )
    assert body.endswith("sixth and seventh ribs are noted.")
    assert "\n" not in body and "  " not in body


def test_report_with_addendum_on_top() -> None:
    text = (TREE / "p10000032" / "s53189527.txt").read_text()
    sections = section_text(text)
    # The first line cannot be a header (no preceding newline): the addendum lands in the preamble.
    assert sections[0][0] == "preamble" and "Correction" in sections[0][1]
    assert report_answer(text) == (
        "findings",
        "Small right pleural effusion is unchanged. Possible small right apical pneumothorax.",
    )


def test_report_without_findings_falls_back_to_impression() -> None:
    text = (TREE / "p10000764" / "s57375967.txt").read_text()
    assert "findings" not in [n for n, _ in section_text(text)]
    assert report_answer(text) == (
        "impression",
        "Mild pulmonary vascular congestion. Lines and tubes in standard position.",
    )


def test_last_paragraph_fallback() -> None:
    text = " HISTORY:  Cough.\n \n Lungs are clear.  No effusion.\n"
    sections = section_text("\n" + text)
    assert [n for n, _ in sections] == ["preamble", "history", "last_paragraph"]
    assert report_answer("\n" + text) == ("last_paragraph", "Lungs are clear. No effusion.")


def test_headers_need_leading_space() -> None:
    text = "\nFINDINGS: Clear.\nIMPRESSION: Normal.\n"
    assert [n for n, _ in section_text(text)] == ["full report"]


def test_empty_findings_dropped_and_nothing_usable() -> None:
    text = "\n FINDINGS: \n \n IMPRESSION:  Normal chest.\n"
    assert report_answer(text) == ("impression", "Normal chest.")
    assert report_answer("\n INDICATION:  ___ with cough\n") is None


def test_last_section_of_a_name_wins() -> None:
    text = "\n FINDINGS:  First.\n \n FINDINGS:  Second.\n"
    assert report_answer(text) == ("findings", "Second.")


def test_name_normalisation() -> None:
    assert normalize_name("IMPRESSON") == "impression"
    assert normalize_name("FINDINGS AND IMPRESSION") == "impression"
    assert normalize_name("COMPARISONS") == "comparison"
    assert normalize_name("PA AND LATERAL VIEWS OF THE CHEST") == "findings"
    assert normalize_name("REASON FOR EXAM") == "indication"
    assert normalize_name("CONCLUSION") == "impression"
