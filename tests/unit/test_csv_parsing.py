"""Reading CSV: what rejects a whole file, what rejects a row, and how rows are numbered."""

from __future__ import annotations

import pytest
from pipeline.contracts import HOUSING
from pipeline.errors import (
    BAD_ENCODING,
    BINARY_FILE,
    DUPLICATE_COLUMNS,
    EMPTY_FILE,
    HEADER_ONLY,
    LINE_TOO_LONG,
    MISSING_COLUMNS,
    UNPARSEABLE,
    FileRejected,
)
from pipeline.parse import MAX_RECORD_CHARS
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

HEADER = ",".join(HOUSING.column_names)
ROW = "-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY"


def check(data: bytes, key: str = "housing/x.csv"):
    return validate_bytes(data, key, HOUSING)


def rejected_code(data: bytes, key: str = "housing/x.csv") -> str:
    with pytest.raises(FileRejected) as caught:
        check(data, key)
    return caught.value.code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", EMPTY_FILE),
        (b"\n \n", EMPTY_FILE),
        (b"\xef\xbb\xbf", EMPTY_FILE),
        (b"\xef\xbb\xbf \r\n\t", EMPTY_FILE),
        (HEADER.encode() + b"\n", HEADER_ONLY),
        (HEADER.encode() + b"\n\n\n", HEADER_ONLY),
        (HEADER.encode() + b"\n,,,,,,,,,\n", HEADER_ONLY),
        (b"longitude,latitude\n-122.2,37.8\n", MISSING_COLUMNS),
        ((HEADER + ",latitude\n" + ROW + ",1\n").encode(), DUPLICATE_COLUMNS),
        ((HEADER + ",Latitude \n" + ROW + ",1\n").encode(), DUPLICATE_COLUMNS),
        (b"\xff\xfel\x00o\x00n\x00g\x00", BINARY_FILE),
        ((HEADER + "\n" + ROW + "\n").encode().replace(b"NEAR BAY", b"NEAR \xe9BAY"), BAD_ENCODING),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00binary zip bytes", BINARY_FILE),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08abc\n", BINARY_FILE),
        ((HEADER + "\n" + ROW + "\n").encode() + b"\x00", BINARY_FILE),
        ((HEADER + "\n" + ROW.replace("NEAR BAY", '"NEAR BAY') + "\n" + ROW + "\n").encode(), UNPARSEABLE),
        ((HEADER + "\n" + ROW.replace("NEAR BAY", '"NEAR" BAY') + "\n").encode(), UNPARSEABLE),
        ((HEADER + "\n" + ROW + "," + "x" * (MAX_RECORD_CHARS + 1) + "\n").encode(), LINE_TOO_LONG),
        (("x" * (MAX_RECORD_CHARS + 1)).encode(), LINE_TOO_LONG),
    ],
    ids=["zero-bytes", "whitespace", "bom-only", "bom-and-whitespace", "header-only", "header-and-blank-lines",
         "header-and-separators", "missing-columns", "duplicate-columns", "duplicate-columns-by-case", "utf16",
         "invalid-utf8-value", "binary-zip", "control-characters", "nul-late", "unclosed-quote",
         "text-after-closing-quote", "long-line", "long-header"],
)  # fmt: skip
def test_files_that_cannot_be_used_are_rejected_whole(data, code):
    assert rejected_code(data) == code


def test_missing_columns_are_named_in_the_detail():
    with pytest.raises(FileRejected) as caught:
        check(b"longitude,latitude\n-122.2,37.8\n")
    assert "housing_median_age" in caught.value.detail and "ocean_proximity" in caught.value.detail
    assert "the header has: longitude, latitude" in caught.value.detail


def test_header_matching_ignores_case_whitespace_and_a_byte_order_mark():
    data = b"\xef\xbb\xbf" + HEADER.upper().replace(",", " , ").encode() + b"\r\n" + ROW.encode() + b"\r\n"
    result = check(data)
    assert len(result.good) == 1 and list(result.good.columns) == HOUSING.column_names


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_common_delimiter_and_line_ending_is_read(delimiter, newline):
    rows = [HEADER, ROW, ROW.replace("37.88", "37.5")]
    text = newline.join(row.replace(",", delimiter) for row in rows) + newline
    result = check(text.encode())
    assert list(result.good.index) == [1, 2] and result.good["latitude"].tolist() == [37.88, 37.5]


def test_a_tsv_file_with_quoted_tabs_and_a_bom_is_read():
    header = HEADER.replace(",", "\t")
    row = ROW.replace(",", "\t").replace("NEAR BAY", '"NEAR BAY"')
    data = b"\xef\xbb\xbf" + f'{header}\tnote\r\n{row}\t"a\tb"\r\n'.encode()
    result = check(data, "housing/x.tsv")
    assert result.good["ocean_proximity"].tolist() == ["NEAR BAY"]


def test_semicolon_csv_with_decimal_points_and_quoted_semicolons():
    header = HEADER.replace(",", ";") + ";comment"
    data = f'{header}\r\n{ROW.replace(",", ";")};"a; b"\r\n'.encode()
    assert len(check(data).good) == 1


def test_extra_columns_and_column_order_do_not_matter():
    names = list(reversed(HOUSING.column_names)) + ["comment"]
    values = list(reversed(ROW.split(","))) + ["ignored, quoted"]
    data = (",".join(names) + "\n" + ",".join(values[:-1]) + ',"ignored, quoted"\n').encode()
    result = check(data)
    assert list(result.good.columns) == HOUSING.column_names
    assert result.good["longitude"].iloc[0] == -122.23


def test_rows_with_the_wrong_number_of_fields_are_malformed_with_their_row():
    # GIVEN rows 2 and 4 have too few / too many fields
    data = "\n".join([HEADER, ROW, "1,2,3", ROW, ROW + ",extra", ROW]).encode()

    # WHEN validated
    result = check(data)

    # THEN the other rows load, with their own numbers, and the bad ones are reported
    assert list(result.good.index) == [1, 3, 5]
    rejected = result.rejected.to_dict("records")
    assert [(r["row_number"], r["column"], r["reason"]) for r in rejected] == [
        (2, "", "malformed_row"),
        (4, "", "malformed_row"),
    ]
    assert rejected[0]["detail"] == "expected 10 fields, found 3" and rejected[0]["value"] == "1,2,3"
    assert rejected[1]["detail"] == "expected 10 fields, found 11"


def test_row_numbers_count_blank_lines_so_row_n_is_on_line_n_plus_1():
    data = "\n".join([HEADER, ROW, "", ROW.replace("37.88", "99"), ROW]).encode()
    result = check(data)
    assert list(result.good.index) == [1, 4]
    assert result.rejected["row_number"].tolist() == [3]  # line 4 of the file
    assert result.rows_total == 3


def test_a_quoted_line_break_keeps_the_following_row_numbers_on_their_lines():
    data = "\n".join([HEADER, ROW.replace("NEAR BAY", '"NEAR\nBAY"'), ROW.replace("37.88", "99"), ROW]).encode()
    result = check(data)
    assert list(result.good.index) == [4]
    # Row 1 spans lines 2-3 (and is not an allowed value); the next row starts on line 4.
    assert result.rejected[["row_number", "column"]].values.tolist() == [[1, "ocean_proximity"], [3, "latitude"]]


def test_quoted_fields_may_contain_the_separator():
    data = (HEADER + "\n" + ROW.replace("NEAR BAY", '"NEAR BAY"') + "\n").encode()
    assert check(data).good["ocean_proximity"].iloc[0] == "NEAR BAY"


def test_a_file_of_only_malformed_rows_has_no_valid_rows():
    assert rejected_code((HEADER + "\n1,2\n3,4\n").encode()) == "no_valid_rows"
