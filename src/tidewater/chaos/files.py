"""The files the chaos harness uploads: mixed datasets, about one in ten bad, deterministic.

`chaos_file(run, number)` always gives the same bytes for the same arguments, and the harness knows
what each must become: its status and exactly how many of its rows load. Every file's bytes are
distinct (its own tag is in its rows), so none is a duplicate of another unless a trial makes it one.

Of every ten files: three housing CSVs (rows of the seed file, with an extra `chaos_file` column
the contract ignores), four events CSVs (the bench's generator), two retina JSON arrays and one bad
file - alternately one whose some rows fail validation (the others load) and one bad as a whole
(quarantined, nothing loads). Every 25th file is a larger events file (20,000 rows, ~2 MB), so
COPYs last long enough for faults to land in them.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from tidewater.bench import datagen
from tidewater.stack.env import repo_root

HOUSING_SEED = "seed_data/housing/california_housing.csv"
LOADED, QUARANTINED = "loaded", "quarantined"
LARGE_EVERY = 25
LARGE_EVENTS_ROWS = 20_000
FIRST_DAY = date(2025, 7, 1)
DIAGNOSES = ("normal", "glaucoma suspect", "diabetic retinopathy", "macular degeneration")


@dataclass(frozen=True)
class ChaosFile:
    key: str
    body: bytes
    dataset: str
    good_rows: int  # rows that load (0 when the file is quarantined as a whole)
    status: str  # what it becomes on its own: loaded | quarantined
    reason: str | None = None  # the ledger's `error` of a quarantined file


@cache
def housing_rows() -> tuple[str, tuple[str, ...]]:
    lines = (repo_root() / HOUSING_SEED).read_text().splitlines()
    return lines[0], tuple(lines[1:])


def _mix(n: int) -> int:
    """A well-spread number from n (no `random`, whose algorithms may change between versions)."""
    return zlib.crc32(n.to_bytes(8, "little"))


def housing(key: str, tag: str, seed: int, rows: int, bad_rows: int = 0) -> ChaosFile:
    header, seed_rows = housing_rows()
    start = _mix(seed) % (len(seed_rows) - rows)
    lines = [f"{header},chaos_file"]
    for i, row in enumerate(seed_rows[start : start + rows]):
        if i < bad_rows:  # not_a_number: the row is rejected, the others load
            fields = row.split(",")
            fields[8] = "n/a"
            row = ",".join(fields)
        lines.append(f"{row},{tag}")
    return ChaosFile(key, ("\n".join(lines) + "\n").encode(), "housing", rows - bad_rows, LOADED)


def events(key: str, tag: str, seed: int, rows: int, bad_rows: int = 0) -> ChaosFile:
    day = FIRST_DAY + timedelta(days=seed % 30)
    text = datagen.events_csv_bytes(rows, day, salt=seed).decode()
    header, *lines = text.splitlines()
    # The tag as a column of its own (an attribute): distinct bytes whatever the salt gives.
    lines = [f"{header},chaos_file", *(f"{line},{tag}" for line in lines)]
    for i in range(1, bad_rows + 1):  # bad_timestamp
        lines[i] = "not-a-time" + lines[i][lines[i].index(",") :]
    return ChaosFile(key, ("\n".join(lines) + "\n").encode(), "events", rows - bad_rows, LOADED)


def retina(key: str, tag: str, seed: int, rows: int, bad_rows: int = 0) -> ChaosFile:
    scans = []
    for i in range(rows):
        h = _mix(seed * 1000 + i)
        scans.append({
            "patient_id": f"{tag}-{i}",
            "patient_name": f"Patient {h % 9973}",
            "scan_date": (FIRST_DAY + timedelta(days=h % 90)).isoformat(),
            # out_of_range for the first bad_rows scans (at most 1000 microns)
            "retina_thickness_microns": 5000 if i < bad_rows else 200 + h % 200,
            "optic_disc_cup_ratio": round((h >> 8) % 90 / 100, 2),
            "diagnosis": DIAGNOSES[(h >> 4) % len(DIAGNOSES)],
        })  # fmt: skip
    return ChaosFile(key, json.dumps(scans).encode(), "retina", rows - bad_rows, LOADED)


def bad_as_a_whole(key_prefix: str, tag: str, seed: int) -> ChaosFile:
    """Four kinds of file that load nothing, with their reason codes."""
    variant = seed % 4
    if variant == 0:  # a housing file without median_house_value
        return ChaosFile(f"housing/{key_prefix}.csv", f"longitude,latitude,chaos_file\n-122.2,37.8,{tag}\n".encode(),
                         "housing", 0, QUARANTINED, "missing_columns")  # fmt: skip
    if variant == 1:
        return ChaosFile(f"events/{key_prefix}.csv", f"timestamp,event_type,user_id,action,{tag}\n".encode(),
                         "events", 0, QUARANTINED, "header_only")  # fmt: skip
    if variant == 2:
        return ChaosFile(f"retina/{key_prefix}.json", f'{{"patient_id": "{tag}"}}'.encode(), "retina", 0,
                         QUARANTINED, "unparseable")  # fmt: skip
    return ChaosFile(f"housing/{key_prefix}.xlsx", f"PK not a spreadsheet {tag}".encode(), "housing", 0,
                     QUARANTINED, "unsupported_format")  # fmt: skip


def chaos_file(run: str, number: int, prefix: str = "chaos") -> ChaosFile:
    """File `number` of the run `run` (a short tag: the same run and number give the same bytes)."""
    tag = f"{run}-{number}"
    seed = zlib.crc32(tag.encode())
    stem = f"{prefix}/{run}/{number:06d}"
    kind = number % 10
    size = 20 + seed % 280
    if kind == 9:
        if number % 20 == 9:
            return bad_as_a_whole(stem, tag, seed)
        maker = (housing, events, retina)[(number // 20) % 3]
        dataset, extension = maker.__name__, ".json" if maker is retina else ".csv"
        return maker(f"{dataset}/{stem}{extension}", tag, seed, size, bad_rows=1 + seed % 5)
    if number % LARGE_EVERY == 0:
        return events(f"events/{stem}.csv", tag, seed, LARGE_EVENTS_ROWS)
    if kind < 3:
        return housing(f"housing/{stem}.csv", tag, seed, size)
    if kind < 7:
        return events(f"events/{stem}.csv", tag, seed, size)
    return retina(f"retina/{stem}.json", tag, seed, min(size, 60))


def large_events(key: str, tag: str, rows: int) -> ChaosFile:
    """A large, entirely good events file (ENOSPC's): ~100 bytes a row."""
    return events(key, tag, _mix(rows + len(tag)), rows)

