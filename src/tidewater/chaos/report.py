"""bench/chaos.json and the table printed at the end of a chaos run. Pure, except `write_json`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tidewater.chaos.trials import KINDS, TrialResult


def summarize(trials: list[TrialResult], files: int, **extra: Any) -> dict[str, Any]:
    """The run in numbers: `trials`, `files`, `faults` per kind, `lost_files`, `lost_rows`,
    `doubled_rows`, `dlq_after_replay` (the DLQ's depth after each trial's replay, added up) and the
    rest of `extra` (wall_s, mode, ...)."""
    faults = Counter({kind: 0 for kind in KINDS})
    moments: Counter = Counter()
    per_kind: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for trial in trials:
        faults.update(trial.faults_by_kind())
        moments.update(trial.notes.get("moments", {}))
        kind = per_kind.setdefault(trial.kind, {"trials": 0, "faults": 0, "files": 0, "seconds": 0.0, "problems": 0})
        kind["trials"] += 1
        kind["faults"] += trial.faults
        kind["files"] += trial.files
        kind["seconds"] = round(kind["seconds"] + trial.seconds, 1)
        kind["problems"] += trial.verdict.problem_count
        problems += [f"trial {trial.number} ({trial.kind}): {p}" for p in trial.verdict.problems]
    ends = epoch_ends(trials)
    return {
        "trials": len(trials),
        "files": files,
        "faults": dict(faults),
        "faults_total": sum(faults.values()),
        "lost_files": sum(t.verdict.lost_files for t in ends),
        "lost_rows": sum(t.verdict.lost_rows for t in ends),
        "doubled_rows": sum(t.verdict.doubled_rows for t in ends),
        "wrong_status": sum(t.verdict.wrong_status for t in ends),
        "dlq_before_replay": sum(t.dlq_before_replay for t in trials),
        "dlq_after_replay": sum(t.dlq_after_replay for t in trials),
        "trials_with_problems": sum(1 for t in trials if not t.verdict.ok),
        "problems": problems[:100],
        "kills_by_moment": dict(moments),
        "per_kind": per_kind,
        "trial_log": [{"number": t.number, "kind": t.kind, "faults": t.faults, "files": t.files,
                       "seconds": t.seconds, "dlq_before_replay": t.dlq_before_replay,
                       "dlq_after_replay": t.dlq_after_replay, "problems": t.verdict.problem_count,
                       "notes": t.notes} for t in trials],  # fmt: skip
        **extra,
    }


def epoch_ends(trials: list[TrialResult]) -> list[TrialResult]:
    """The last trial on each stack: its check covers every file of the earlier trials on that stack.
    An emulator_restart trial starts a new (empty) stack, so the trial before it ends one."""
    return [t for i, t in enumerate(trials) if i + 1 == len(trials) or trials[i + 1].kind == "emulator_restart"]


def passed(results: dict[str, Any]) -> bool:
    return results["trials_with_problems"] == 0 and not results.get("harness_error")


def table(results: dict[str, Any]) -> str:
    headers = ("fault", "trials", "faults", "files", "seconds", "problems")
    rows = [[kind, str(k["trials"]), f"{k['faults']:,}", f"{k['files']:,}", f"{k['seconds']:,.0f}", str(k["problems"])]
            for kind, k in results["per_kind"].items()]  # fmt: skip
    widths = [max(len(r[i]) for r in [list(headers), *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    out = [line(list(headers)), "  ".join("-" * w for w in widths), *map(line, rows), ""]
    moments = ", ".join(f"{name} {count}" for name, count in sorted(results["kills_by_moment"].items()))
    out += [
        f"trials {results['trials']}, files {results['files']:,}, faults {results['faults_total']:,}"
        + (f" (SIGKILLs by moment: {moments})" if moments else ""),
        f"lost files {results['lost_files']}, lost rows {results['lost_rows']}, doubled rows "
        f"{results['doubled_rows']}, wrong status {results['wrong_status']}, DLQ after replay "
        f"{results['dlq_after_replay']} (before: {results['dlq_before_replay']})",
        f"wall {results['wall_s']:,.0f} s" + (f", {results['files_per_s']:.1f} files/s" if "files_per_s" in results
                                              else "") + f"; PostgreSQL fsync {results.get('postgres_fsync', '?')}",
    ]  # fmt: skip
    out += memory_lines(results)
    out.append("every invariant held" if passed(results) else
               f"INVARIANTS BROKEN in {results['trials_with_problems']} trial(s)"
               + (f"; harness error: {results['harness_error']}" if results.get("harness_error") else ""))  # fmt: skip
    return "\n".join(out) + "\n"


def memory_lines(results: dict[str, Any]) -> list[str]:
    """The soak's memory verdicts (nothing for the trials, which sample no memory)."""
    out = []
    for key, name in (("memory_environments", "function environments"), ("memory_emulator", "emulator"),
                      ("memory_emulator_beyond_stored", "emulator less the S3 objects and log events it stores")):
        m = results.get(key)
        if not m or m.get("levels_off") is None:
            continue
        growth = (f"{m['second_quarter_mb']:,.0f} -> {m['last_quarter_mb']:,.0f} MB (second -> last quarter)"
                  if "last_quarter_mb" in m else f"{m['net_mb'][1]:,.0f} -> {m['net_mb'][-1]:,.0f} MB "
                  f"(second -> last check; {m['beyond_stored_kb_per_file']} KB per file, the emulator's "
                  f"{m['emulator_kb_per_file']} KB less {m['stored_kb_per_file']} KB stored)")
        out.append(f"memory of the {name}: {growth}, {'levels off' if m['levels_off'] else 'DOES NOT level off'}")
    return out


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
