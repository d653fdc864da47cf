"""The daily report as one self-contained HTML page: inline CSS and SVG charts drawn here, no
scripts, fonts or images fetched from anywhere (it is read from S3, mail clients and file://)."""

from __future__ import annotations

from html import escape
from typing import Any

from pipeline.report import STATUSES, summary_line

# One colour per meaning, used by every chart (tests count these pixels in a screenshot).
PALETTE = {
    "loaded": "#2a9d8f",
    "duplicate": "#e9c46a",
    "quarantined": "#e76f51",
    "superseded": "#9aa5b1",
    "rows": "#3d5a80",
    "error": "#c8553d",
}
FONT = "-apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _nice_max(value: float) -> float:
    """A round axis maximum >= value (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def hourly_chart(hours: list[dict[str, int]], width: int = 900, height: int = 240) -> str:
    """Stacked columns of files per UTC hour, by final status."""
    left, right, top, bottom = 40, 10, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(4, _nice_max(max((sum(h[s] for s in STATUSES) for h in hours), default=0)))  # whole-number ticks
    slot = plot_w / 24
    parts = [f'<svg class="chart" role="img" aria-label="Files per hour" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    ticks = 4 if peak % 4 == 0 else 5  # whole-number gridlines: 4 -> 1s, 5 -> 1s, 10 -> 2s, 20 -> 5s
    for i in range(ticks + 1):
        value = peak * i / ticks
        y = top + plot_h - plot_h * i / ticks
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        label = f"{value:g}" if value < 1000 else f"{value / 1000:g}k"
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{label}</text>')
    for h in hours:
        x = left + h["hour"] * slot + slot * 0.15
        y = top + plot_h
        for status in STATUSES:
            count = h[status]
            if not count:
                continue
            bar = plot_h * count / peak
            y -= bar
            tip = f"{h['hour']:02d}:00 {status}: {count}"
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}" '
                         f'fill="{PALETTE[status]}"><title>{tip}</title></rect>')  # fmt: skip
        if h["hour"] % 3 == 0:
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                         f'class="axis">{h["hour"]:02d}</text>')  # fmt: skip
    parts.append(f'<text x="{width - right}" y="{height - 4}" text-anchor="end" class="axis">hour (UTC)</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(items: list[tuple[str, int | float]], colour: str, label: str, width: int = 420) -> str:
    """Horizontal bars, one per (name, value), largest first as given."""
    if not items:
        return '<p class="empty">Nothing to show for this day.</p>'
    row_h, left, right, top = 28, 130, 60, 6
    height = top * 2 + row_h * len(items)
    peak = max(v for _, v in items) or 1
    plot_w = width - left - right
    parts = [f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for i, (name, value) in enumerate(items):
        y = top + i * row_h
        bar = max(2.0, plot_w * value / peak) if value else 0
        parts.append(f'<text x="{left - 10}" y="{y + row_h / 2 + 5:.1f}" text-anchor="end" class="name">'
                     f"{escape(str(name))}</text>")  # fmt: skip
        parts.append(f'<rect x="{left}" y="{y + 5}" width="{bar:.1f}" height="{row_h - 10}" rx="3" fill="{colour}">'
                     f"<title>{escape(str(name))}: {value}</title></rect>")  # fmt: skip
        parts.append(f'<text x="{left + bar + 8:.1f}" y="{y + row_h / 2 + 5:.1f}" class="value">{_num(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    return "".join(f'<span class="key"><i style="background:{PALETTE[s]}"></i>{s}</span>' for s in STATUSES)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_num(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(label: str, value: Any, tone: str = "") -> str:
    return f'<div class="card {tone}"><div class="v">{_num(value)}</div><div class="l">{escape(label)}</div></div>'


CSS = f"""
body {{ font-family: {FONT}; color: #1f2933; background: #f4f6f8; margin: 0; }}
main {{ max-width: 980px; margin: 0 auto; padding: 28px 24px 48px; }}
h1 {{ font-size: 26px; margin: 0 0 4px; }}
h2 {{ font-size: 17px; margin: 0 0 12px; color: #243b53; }}
.sub {{ color: #627d98; font-size: 13px; margin-bottom: 20px; }}
.cards {{ display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; margin-bottom: 20px; }}
.card {{ background: #fff; border-radius: 10px; padding: 14px 12px; box-shadow: 0 1px 2px rgba(16,42,67,.08); }}
.card .v {{ font-size: 24px; font-weight: 650; }}
.card .l {{ font-size: 12px; color: #627d98; margin-top: 2px; }}
.card.bad .v {{ color: {PALETTE["quarantined"]}; }} .card.good .v {{ color: {PALETTE["loaded"]}; }}
section {{ background: #fff; border-radius: 10px; padding: 18px 20px; margin-bottom: 16px;
          box-shadow: 0 1px 2px rgba(16,42,67,.08); }}
.grid2 {{ display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }}
.grid2 section {{ margin-bottom: 0; }}
svg.chart {{ max-width: 100%; height: auto; display: block; }}
svg text {{ font-family: {FONT}; }} .axis {{ font-size: 11px; fill: #829ab1; }}
.name {{ font-size: 13px; fill: #334e68; }} .value {{ font-size: 12px; fill: #486581; }}
.legend {{ font-size: 12px; color: #486581; margin: -4px 0 8px; }}
.key {{ margin-right: 14px; }} .key i {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px;
         margin-right: 5px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ padding: 6px 8px; border-bottom: 1px solid #e3e6ea; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ color: #486581; font-weight: 600; }}
.empty {{ color: #829ab1; font-size: 13px; }}
footer {{ color: #829ab1; font-size: 12px; margin-top: 20px; }}
"""


def render_html(report: dict[str, Any], location: str | None = None, charts: bool = True) -> str:
    """The page; `charts=False` leaves the SVGs out (the screenshot test's baseline)."""
    t, lat, ds = report["totals"], report["latency"], report["datasets"]
    files = report["files_by_dataset"]
    dlq = report["failed"]["dlq_depth"]
    cards = "".join([
        _card("files received", t["received"]),
        _card("loaded", t["loaded"], "good"),
        _card("quarantined", t["quarantined"], "bad" if t["quarantined"] else ""),
        _card("rows loaded", t["rows_loaded"]),
        _card("p90 latency (s)", lat["p90_seconds"]),
        _card("in dead-letter queue", dlq, "bad" if dlq else ""),
    ])  # fmt: skip

    def chart(svg: str) -> str:
        return svg if charts else ""

    rows_chart = chart(bar_chart([(name, d["rows_loaded"]) for name, d in files.items()], PALETTE["rows"],
                                 "Rows loaded per dataset"))  # fmt: skip
    errors_chart = chart(bar_chart([(e["reason"], e["files"]) for e in report["error_reasons"]], PALETTE["error"],
                                   "Files per error reason"))  # fmt: skip
    keys = ["received", *STATUSES, "with_rejected_rows", "rows_loaded", "rows_quarantined"]
    file_rows = [[name, *(d[key] for key in keys)] for name, d in files.items()]
    file_rows.append(["total", *(t[key] for key in keys)])
    housing, events, retina = ds.get("housing", {}), ds.get("events", {}), ds.get("retina", {})
    sections = [
        f'<section><h2>Files per hour (UTC)</h2><div class="legend">{_legend()}</div>'
        f"{chart(hourly_chart(report['files_per_hour']))}</section>",
        f'<div class="grid2"><section><h2>Rows loaded per dataset</h2>{rows_chart}</section>'
        f"<section><h2>Top error reasons (files)</h2>{errors_chart}</section></div><br>",
        "<section><h2>Files by dataset</h2>"
        + _table(["dataset", "received", *STATUSES, "with rejected rows", "rows loaded", "rows quarantined"],
                 file_rows)
        + f'<p class="sub">Processing latency (S3 event → ledger) over {lat["files"]} files: '
        f"p50 {_num(lat['p50_seconds'])} s · p90 {_num(lat['p90_seconds'])} s · p99 {_num(lat['p99_seconds'])} s · "
        f"max {_num(lat['max_seconds'])} s. Failed (infrastructure, in the dead-letter queue now): {_num(dlq)}.</p>"
        "</section>",
        f"<section><h2>housing — {_num(housing.get('records', 0))} records loaded</h2>"
        + _table(["ocean_proximity", "records", "avg median_house_value", "min", "max"],
                 [[g["ocean_proximity"], g["records"], float(g["avg_median_house_value"]),
                   g["min_median_house_value"], g["max_median_house_value"]]
                  for g in housing.get("by_ocean_proximity", [])])  # fmt: skip
        + "</section>",
        f'<div class="grid2"><section><h2>events — {_num(events.get("events", 0))} events, '
        f"{_num(events.get('active_users', 0))} active users</h2>"
        + _table(["event_type", "events"], [[e["name"], e["events"]] for e in events.get("by_event_type", [])])
        + "<br>"
        + _table(["action", "events"], [[e["name"], e["events"]] for e in events.get("by_action", [])])
        + f"</section><section><h2>retina — {_num(retina.get('scans', 0))} scans, "
        f"{_num(retina.get('patients', 0))} patients</h2>"
        + _table(["diagnosis", "scans"], [[d["diagnosis"], d["scans"]] for d in retina.get("by_diagnosis", [])])
        + "</section></div>",
    ]
    where = f" · {escape(location)}" if location else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>tidewater daily report {escape(report['date'])}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body><main>"
        f"<h1>tidewater daily report — {escape(report['date'])}</h1>"
        f'<div class="sub">{escape(summary_line(report))}</div>'
        f'<div class="cards">{cards}</div>'
        + "".join(sections)
        + f"<footer>generated {escape(report['generated_at'])} ({escape(report['trigger'])}){where}</footer>"
        "</main></body></html>\n"
    )
