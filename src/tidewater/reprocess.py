"""`tidewater reprocess --dataset D [--since YYYY-MM-DD] [--key KEY] [--dry-run]`: load a dataset's
files again under the contracts deployed now - after a contract change, or to load files that were
quarantined under an older one.

The files are the dataset's loaded and quarantined ledger rows (oldest first). Each is loaded by
the processor function itself (a direct invocation per file, so the deployed contract decides), in
one transaction: its previous rows and their share of the summary are replaced and its ledger row
updated; a file the contract still rejects as a whole is left as it was.
"""

from __future__ import annotations

import json
import sys
from datetime import date

from tidewater.aws import Pipeline

FILES = """
    SELECT id, s3_key, status, coalesce(contract_version, '-'), rows_loaded, coalesce(error, '')
    FROM ingested_files
    WHERE dataset = %s AND status IN ('loaded', 'quarantined')
      AND (%s::text IS NULL OR s3_key = %s) AND (%s::date IS NULL OR coalesce(event_time, started_at) >= %s::date)
    ORDER BY coalesce(event_time, started_at), id
"""


def files(pipeline: Pipeline, dataset: str, since: date | None, key: str | None) -> list[tuple]:
    return pipeline.query(FILES, (dataset, key, key, since, since))


def invoke(pipeline: Pipeline, file_id: int) -> dict:
    """Reprocess one file in the processor; its outcome, or SystemExit with the function's error."""
    function = pipeline.outputs["processor_function_name"]
    response = pipeline.client("lambda").invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps({"reprocess": {"file_id": file_id}}).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or not isinstance(payload, dict) or "error" in payload:
        detail = payload.get("errorMessage") or payload.get("error") if isinstance(payload, dict) else payload
        raise SystemExit(f"The processor failed to reprocess file {file_id}: {detail}. See `tidewater logs`.")
    return payload


def describe(outcome: dict) -> str:
    status = outcome["status"]
    if status == "loaded":
        rejected = f", {outcome['rows_quarantined']:,} rejected" if outcome.get("rows_quarantined") else ""
        return f"loaded {outcome.get('rows_loaded', 0):,} rows{rejected}"
    if status == "unchanged":
        return f"left as it was: {outcome.get('reason')}: {outcome.get('detail')}"
    if status == "duplicate":
        return f"a duplicate of file {outcome.get('duplicate_of')} (loads nothing)"
    if status == "superseded":
        return f"superseded by file {outcome.get('superseded_by')}, a newer version of its key"
    return f"{status}: {outcome.get('detail', '')}"


def reprocess(pipeline: Pipeline, dataset: str, since: str | None = None, key: str | None = None,
              dry_run: bool = False) -> int:  # fmt: skip
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        raise SystemExit(f"--since must be YYYY-MM-DD, got {since!r}") from None
    chosen = files(pipeline, dataset, day, key)
    if not chosen:
        print(f"no loaded or quarantined {dataset} files{' under ' + key if key else ''}"
              f"{' since ' + since if since else ''}", file=sys.stderr)  # fmt: skip
        return 0
    print(f"{len(chosen)} {dataset} file(s){' (dry run: nothing changes)' if dry_run else ''}:", file=sys.stderr)
    for file_id, s3_key, status, version, rows, error in chosen:
        was = f"{status} under contract {version}" + (f", {rows:,} rows" if status == "loaded" else f" ({error})")
        if dry_run:
            print(f"  {s3_key} [file {file_id}]: {was}")
            continue
        print(f"  {s3_key} [file {file_id}]: {was} -> {describe(invoke(pipeline, file_id))}")
    return 0
