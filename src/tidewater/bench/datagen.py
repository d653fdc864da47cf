"""Deterministic benchmark data: the same arguments always give the same bytes.

An events CSV has the columns `timestamp,event_type,user_id,action,attributes`, the attributes a
JSON object in one CSV field - which is also exactly what `psql \\copy events (...)` can load, so the
pipeline and the COPY floor read the same file into the same table. Values come from a
multiplicative hash of the row number (no `random`, whose algorithms may change between versions).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

EVENT_COLUMNS = ("timestamp", "event_type", "user_id", "action", "attributes")
EVENT_TYPES = (
    ("page_view", ("view",)),
    ("search", ("query", "filter")),
    ("auth", ("login", "logout")),
    ("cart", ("add", "remove")),
    ("checkout", ("start", "complete")),
)
DEVICES = ("mobile", "desktop", "tablet")
PAGES = ("/", "/search", "/account", "/cart")
USERS = 5000
LINES_PER_WRITE = 50_000


def _mix(n: int) -> int:
    """A cheap, well-spread 32-bit hash of n (Knuth's multiplicative hash plus a xor-shift)."""
    h = (n * 2654435761) & 0xFFFFFFFF
    return h ^ (h >> 15)


def event_line(i: int, start: datetime, span_seconds: int, rows: int, salt: int = 0) -> str:
    """CSV line of row i (0-based) of a file of `rows` rows spread evenly over `span_seconds`."""
    h = _mix(i + salt * 1_000_003)
    moment = start + timedelta(seconds=i * span_seconds // rows)
    event_type, actions = EVENT_TYPES[h % len(EVENT_TYPES)]
    action = actions[(h >> 4) % len(actions)]
    page = PAGES[(h >> 7) % len(PAGES)] if h % 3 else f"/product/{(h >> 9) % 500}"
    attributes = f'{{""page"": ""{page}"", ""device"": ""{DEVICES[(h >> 12) % len(DEVICES)]}""'
    if event_type == "checkout":
        attributes += f', ""amount"": {(h >> 5) % 50000 / 100:.2f}'
    return f'{moment:%Y-%m-%dT%H:%M:%SZ},{event_type},u{(h >> 16) % USERS:04d},{action},"{attributes}}}"\n'


def write_events_csv(path: Path, rows: int, day: date, days: int = 1, salt: int = 0) -> Path:
    """`rows` events spread evenly over `days` UTC days from `day`; `salt` makes distinct bytes
    (another user/type mix) for files that must not be duplicates of each other."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    span = days * 86400
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(EVENT_COLUMNS) + "\n")
        for first in range(0, rows, LINES_PER_WRITE):
            last = min(first + LINES_PER_WRITE, rows)
            out.writelines(event_line(i, start, span, rows, salt) for i in range(first, last))
    return path


def events_csv_bytes(rows: int, day: date, days: int = 1, salt: int = 0) -> bytes:
    """The bytes `write_events_csv` writes for the same arguments, in memory (small files)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    span = days * 86400
    lines = [",".join(EVENT_COLUMNS) + "\n", *(event_line(i, start, span, rows, salt) for i in range(rows))]
    return "".join(lines).encode("utf-8")


def cached_events_csv(path: Path, rows: int, day: date, days: int = 1, salt: int = 0) -> Path:
    """`write_events_csv` unless `path` already holds that file: a sidecar records the arguments it
    was written with, and the file is written under a temporary name first, so an interrupted run
    never leaves a short file behind."""
    stamp = path.with_name(path.name + ".args")
    wanted = f"rows={rows} day={day.isoformat()} days={days} salt={salt}"
    if path.exists() and stamp.exists() and stamp.read_text() == wanted:
        return path
    partial = path.with_name(path.name + ".partial")
    write_events_csv(partial, rows, day, days, salt)
    partial.replace(path)
    stamp.write_text(wanted)
    return path
