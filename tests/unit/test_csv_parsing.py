"""Reading CSV bytes: what rejects a whole file, what rejects a row, and how rows are numbered."""

from __future__ import annotations

import pytest
from pipeline.contracts import HOUSING
from pipeline.errors import DUPLICATE_COLUMNS, EMPTY_FILE, MISSING_COLUMNS, UNPARSEABLE, FileRejected
from pipeline.parse import parse_csv
from pipeline.validate import validate

pytestmark = pytest.mark.unit

HEADER = ",".join(HOUSING.column_names)
ROW = "-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY"


def rejected_code(data: bytes) -> str:
    with pytest.raises(FileRejected) as caught:
        validate(parse_csv(data, HOUSING), HOUSING)
    return caught.value.code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", EMPTY_FILE),
        (b"\n \n", EMPTY_FILE),
        (HEADER.encode() + b"\n", EMPTY_FILE),
        (HEADER.encode() + b"\n\n\n", EMPTY_FILE),
        (b"longitude,latitude\n-122.2,37.8\n", MISSING_COLUMNS),
        ((HEADER + ",latitude\n" + ROW + ",1\n").encode(), DUPLICATE_COLUMNS),
        (b"\xff\xfe\x00l\x00o\x00n\x00g", UNPARSEABLE),
        ((HEADER + "\n" + ROW + "\n").encode().replace(b"NEAR BAY", b"NEAR \xe9BAY"), UNPARSEABLE),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00binary zip bytes", MISSING_COLUMNS),
    ],
    ids=["zero-bytes", "whitespace", "header-only", "header-and-blank-lines", "missing-columns",
         "duplicate-columns", "utf16", "invalid-utf8-value", "binary"],
)  # fmt: skip
def test_files_that_cannot_be_used_are_rejected_whole(data, code):
    assert rejected_code(data) == code


def test_missing_columns_are_named_in_the_detail():
    with pytest.raises(FileRejected) as caught:
        parse_csv(b"longitude,latitude\n-122.2,37.8\n", HOUSING)
    assert "housing_median_age" in caught.value.detail and "ocean_proximity" in caught.value.detail
    assert "the header has: longitude, latitude" in caught.value.detail


def test_header_matching_ignores_case_whitespace_and_a_byte_order_mark():
    data = b"\xef\xbb\xbf" + HEADER.upper().replace(",", " , ").encode() + b"\r\n" + ROW.encode() + b"\r\n"
    parsed = parse_csv(data, HOUSING)
    assert len(parsed.frame) == 1 and list(parsed.frame.columns) == HOUSING.column_names


def test_extra_columns_and_column_order_do_not_matter():
    names = list(reversed(HOUSING.column_names)) + ["comment"]
    values = list(reversed(ROW.split(","))) + ["ignored, quoted"]
    data = (",".join(names) + "\n" + ",".join(values[:-1]) + ',"ignored, quoted"\n').encode()
    parsed = parse_csv(data, HOUSING)
    assert list(parsed.frame.columns) == HOUSING.column_names
    assert parsed.frame["longitude"].iloc[0] == "-122.23"


def test_rows_with_the_wrong_number_of_fields_are_rejected_with_their_line():
    # GIVEN rows 2 and 4 have too few / too many fields
    data = "\n".join([HEADER, ROW, "1,2,3", ROW, ROW + ",extra", ROW]).encode()

    # WHEN validated
    result = validate(parse_csv(data, HOUSING), HOUSING)

    # THEN the other rows load, with their own numbers, and the bad ones are reported
    assert list(result.good.index) == [1, 3, 5]
    rejected = result.rejected.to_dict("records")
    assert [r["row_number"] for r in rejected] == [2, 4]
    assert rejected[0]["reason"] == "expected 10 fields, found 3" and rejected[0]["value"] == "1,2,3"
    assert rejected[1]["reason"] == "expected 10 fields, found 11"


def test_row_numbers_count_blank_lines_so_row_n_is_on_line_n_plus_1():
    data = "\n".join([HEADER, ROW, "", ROW.replace("37.88", "99"), ROW]).encode()
    result = validate(parse_csv(data, HOUSING), HOUSING)
    assert list(result.good.index) == [1, 4]
    assert result.rejected["row_number"].tolist() == [3]  # line 4 of the file
    assert result.rows_total == 3


def test_quoted_fields_may_contain_the_separator():
    data = (HEADER + "\n" + ROW.replace("NEAR BAY", '"NEAR BAY"') + "\n").encode()
    assert parse_csv(data, HOUSING).frame["ocean_proximity"].iloc[0] == "NEAR BAY"


def test_a_file_of_only_malformed_rows_has_no_valid_rows():
    assert rejected_code((HEADER + "\n1,2\n3,4\n").encode()) == "no_valid_rows"
