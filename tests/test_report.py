"""The README's benchmark sections render from the results the benchmarks record, and the
benchmarks' own summaries."""

from __future__ import annotations

from benchmarks import report


def test_every_section_renders_from_the_recorded_results():
    """Each README section renders its committed JSON (when, with what command) or says how
    to measure it, and rendering keeps every section's markers."""
    readme = report.README.read_text()
    for name, (results, fn) in report.SECTIONS.items():
        text = report.section(results, fn)
        assert text.startswith(("Measured", "_not measured yet")), name
        assert f"<!-- {name}:start -->" in readme
    assert report.render(readme).count("<!--") == readme.count("<!--")


def _row(nms: float, merge: float, extend: float | None, train: float, val: float) -> dict:
    row = {"nms_iou": nms, "merge_iou": merge, "train": {"hmean": train},
           "val": {"hmean": val}}
    return row if extend is None else {**row, "box_extend": extend}


def test_postprocess_section_tables_the_box_extension_apart():
    """Rows of the NMS x merge x extension grid: the first table holds the card's extension,
    the second the extensions at the card's NMS and merge; a record without extensions gives
    the first table alone."""
    data = {"date": "2026-12-04", "command": "python benchmarks/det_postprocess.py",
            "threshold": 0.5, "train_images": 2,
            "card": {"nms_iou": 0.3, "merge_iou": 0.5, "box_extend": 0.05},
            "rows": [_row(n, m, e, 0.5 + e, 0.4) for n in (0.3, 0.45) for m in (0.0, 0.5)
                     for e in (0.0, 0.05)]}
    text = report.det_postprocess_section(data)
    assert text.count("(card)") == 2 and "| 0.05 (card) | 0.550 | 0.400 |" in text
    assert "| 0.0 | 0.500 | 0.400 |" in text
    old = {**data, "card": {"nms_iou": 0.3, "merge_iou": 0.5},
           "rows": [_row(n, 0.5, None, 0.5, 0.4) for n in (0.3, 0.45)]}
    text = report.det_postprocess_section(old)
    assert text.count("(card)") == 1 and "extension" not in text


def test_large_words_summary_tells_scoring_from_box_failures():
    """A missed word with no box is a scoring failure; one with a short box a fragment."""
    from benchmarks.large_words import summary

    rows = [{"height": 60, "iou": 0.8, "length_ratio": 1.0, "height_ratio": 1.0},
            {"height": 60, "iou": 0.0, "length_ratio": 0.0, "height_ratio": 0.0},
            {"height": 70, "iou": 0.3, "length_ratio": 0.5, "height_ratio": 0.9},
            {"height": 120, "iou": 0.6, "length_ratio": 1.0, "height_ratio": 1.0}]
    mid = summary(rows, 48, 96)
    assert mid["words"] == 3 and mid["found"] == 0.333
    assert mid["missed_no_box"] == 0.5 and mid["missed_with_box"] == 0.5
    assert mid["boxed_fragments"] == 1.0 and mid["boxed_height_ratio_median"] == 0.9
    high = summary(rows, 96, 1e9)
    assert high["words"] == 1 and high["found"] == 1.0 and high["max"] is None
