"""The bad-input corpus without a stack: every case's expected outcome, decided by the same parsing
and validation the processor runs (tests/e2e/test_bad_inputs.py checks the same cases end to end,
through S3, the queue, the function, the ledger and the quarantine bucket)."""

from __future__ import annotations

import pytest
from pipeline.contracts import contract_for
from pipeline.errors import FileRejected
from pipeline.formats import split_name
from pipeline.validate import NoValidRows, validate_bytes

from tests.e2e.test_bad_inputs import CASES, case_body, load_make_corpus

pytestmark = pytest.mark.unit

def offline_outcome(key: str, data: bytes) -> dict:
    """status, reason, row counts and (row, column, reason) triples, as ingest would record them."""
    contract = contract_for(key.partition("/")[0] if "/" in key else "")
    try:
        if contract is None:
            return {"status": "quarantined", "reason": "unknown_dataset"}
        split_name(key)
        result = validate_bytes(data, key, contract)
    except NoValidRows as rejection:
        rejected = rejection.validation.rejected if rejection.validation is not None else None
        return {"status": "quarantined", "reason": rejection.code, "rows_loaded": 0,
                "rows_quarantined": rejection.counts.rows_rejected, "rejected": triples(rejected)}  # fmt: skip
    except FileRejected as rejection:
        return {"status": "quarantined", "reason": rejection.code}
    rows_quarantined = result.rows_total - len(result.good)
    return {"status": "loaded", "reason": "rejected_rows" if rows_quarantined else None,
            "rows_loaded": len(result.good), "rows_quarantined": rows_quarantined,
            "rejected": triples(result.rejected)}  # fmt: skip


def triples(rejected) -> list[tuple]:
    if rejected is None:
        return []
    return sorted(tuple(row) for row in rejected[["row_number", "column", "reason"]].values.tolist())


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_corpus_case_offline(case):
    actual = offline_outcome(case["key"], case_body(case, load_make_corpus()))
    expected = {"status": case["status"], "reason": case["reason"]}
    if "rows_loaded" in actual:
        expected |= {"rows_loaded": case["rows_loaded"], "rows_quarantined": case["rows_quarantined"],
                     "rejected": sorted(tuple(triple) for triple in case["rejected"])}  # fmt: skip
    assert actual == expected, case["why"]
