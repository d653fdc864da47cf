"""The HTML report: self-contained, with its charts really drawn. The screenshot test renders the page
in headless Chromium (`make browser` installs it) and counts the chart colours' pixels with and
without the SVGs, so a chart that renders nothing fails even when the markup is there."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline.report_html import PALETTE, render_html

from tests.unit.test_report_aggregation import sample_report

pytestmark = pytest.mark.unit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_is_self_contained_with_three_charts():
    html = render_html(sample_report(), "s3://bucket/reports/2025-01-15/")
    assert html.count("<svg") == 3
    assert not re.search(r'(src|href)=["\']?(https?:)?//', html)
    assert "<script" not in html and "@import" not in html and "url(" not in html
    assert "tidewater daily report — 2025-01-15" in html


def test_names_from_the_data_are_escaped():
    report = sample_report()
    report["error_reasons"] = [{"reason": "<script>alert(1)</script>", "files": 1, "datasets": {"x": 1}}]
    assert "<script>" not in render_html(report)


def screenshot(html: str, tmp_path: Path, name: str) -> Path:
    page, png = tmp_path / f"{name}.html", tmp_path / f"{name}.png"
    page.write_text(html, encoding="utf-8")
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / f'profile-{name}'}", f"--screenshot={png}", "--window-size=1200,2000",
         page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert png.exists() and png.stat().st_size > 0
    return png


def palette_pixels(png: Path) -> dict[str, int]:
    from PIL import Image

    wanted = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)): name for name, c in PALETTE.items()}
    counts = dict.fromkeys(PALETTE, 0)
    for count, colour in Image.open(png).convert("RGB").getcolors(maxcolors=1 << 24):
        if colour in wanted:
            counts[wanted[colour]] += count
    return counts


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: run `make browser`")
def test_the_charts_render_in_a_browser(tmp_path):
    pytest.importorskip("PIL", reason="Pillow is part of the dev dependencies (make venv)")
    report = sample_report()
    with_charts = palette_pixels(screenshot(render_html(report), tmp_path, "charts"))
    without = palette_pixels(screenshot(render_html(report, charts=False), tmp_path, "bare"))
    shutil.copy(tmp_path / "charts.png", Path(__file__).resolve().parents[2] / "build" / "report-screenshot.png") \
        if (Path(__file__).resolve().parents[2] / "build").is_dir() else None  # fmt: skip
    # Columns per hour (loaded + quarantined), rows per dataset, error reasons: each a visible area.
    for colour in ("loaded", "quarantined", "rows", "error"):
        assert with_charts[colour] - without[colour] > 1500, (colour, with_charts, without)
