"""Pure helpers: medians, nearest-rank percentiles and the flat `<key>`, `_min`, `_max`, `_runs` figures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pipeline import report


def median(values: Sequence[float]) -> float:
    """The median (mean of the middle two for an even count); ValueError when there are no values."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the reports' own, pipeline.report.percentile); ValueError when there
    are no values or p is outside (0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    return float(report.percentile(list(values), p))


def _round(value: float, digits: int) -> float | int:
    return int(round(value)) if digits == 0 else round(value, digits)


def figure(key: str, values: Sequence[float], digits: int = 3) -> dict[str, float | int]:
    """`key` = the median of the runs, plus `key_min`, `key_max` and `key_runs` (how many runs);
    digits=0 gives integers."""
    return {
        key: _round(median(values), digits),
        f"{key}_min": _round(min(values), digits),
        f"{key}_max": _round(max(values), digits),
        f"{key}_runs": len(values),
    }


def percentile_figure(key: str, values: Sequence[float], p: float, digits: int = 3) -> dict[str, float | int]:
    """Like `figure`, but the headline number is the p-th nearest-rank percentile of the samples
    (min/max/runs describe the same samples)."""
    return {**figure(key, values, digits), key: _round(percentile(values, p), digits)}
