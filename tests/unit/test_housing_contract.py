"""The housing contract: the real file passes whole; each rule rejects exactly the rows it should."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pipeline.contracts import HOUSING, contract_for
from pipeline.errors import NO_VALID_ROWS
from pipeline.validate import NoValidRows, validate_bytes

pytestmark = pytest.mark.unit

SEED = Path(__file__).resolve().parents[2] / "seed_data" / "housing" / "california_housing.csv"
HEADER = ",".join(HOUSING.column_names)
GOOD_ROW = "-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY"


def check(*rows: str):
    data = "\n".join([HEADER, *rows]).encode() + b"\n"
    return validate_bytes(data, "housing/x.csv", HOUSING)


def with_value(column: str, value: str) -> str:
    values = GOOD_ROW.split(",")
    values[HOUSING.column_names.index(column)] = value
    return ",".join(values)


def test_housing_is_the_contract_of_the_housing_prefix():
    assert contract_for("housing") is HOUSING
    assert contract_for("nope") is None
    assert HOUSING.table == "housing" and HOUSING.summary_table == "housing_summary_statistics"


def test_the_published_file_loads_completely():
    # GIVEN the real California housing file WHEN validated
    result = validate_bytes(SEED.read_bytes(), "housing/california_housing.csv", HOUSING)

    # THEN every row is good, the 207 missing bedroom counts are NULL and the five categories remain
    assert len(result.good) == 20_640 and result.rejected.empty and result.rows_rejected == 0
    assert result.good["total_bedrooms"].isna().sum() == 207
    assert set(result.good["ocean_proximity"]) == {"NEAR BAY", "<1H OCEAN", "INLAND", "NEAR OCEAN", "ISLAND"}
    assert list(result.good.index[:2]) == [1, 2] and result.good.index[-1] == 20_640


def test_values_are_typed_for_loading():
    good = check(GOOD_ROW).good
    assert str(good["longitude"].dtype) == "float64"
    assert str(good["total_rooms"].dtype) == "Int64" and good["total_rooms"].iloc[0] == 880
    assert str(good["ocean_proximity"].dtype) == "string"
    assert list(good.columns) == HOUSING.column_names


def test_missing_total_bedrooms_is_allowed():
    result = check(with_value("total_bedrooms", ""))
    assert len(result.good) == 1 and pd.isna(result.good["total_bedrooms"].iloc[0])


@pytest.mark.parametrize(
    ("column", "value", "reason", "detail"),
    [
        ("longitude", "-130.5", "out_of_range", "below the minimum -125"),
        ("longitude", "-113.9", "out_of_range", "above the maximum -114"),
        ("latitude", "31.99", "out_of_range", "below the minimum 32"),
        ("latitude", "42.6", "out_of_range", "above the maximum 42.5"),
        ("housing_median_age", "-1", "out_of_range", "below the minimum 0"),
        ("total_rooms", "12.5", "not_an_integer", "not a whole number"),
        ("total_rooms", "3000000000", "out_of_range", "above the maximum 2.14748e+09"),
        ("total_bedrooms", "-3", "out_of_range", "below the minimum 0"),
        ("population", "many", "not_a_number", "not a number"),
        ("households", "", "missing_value", "a value is required"),
        ("median_income", "inf", "not_a_number", "not a finite number"),
        ("median_income", "NaN", "not_a_number", "not a number"),
        ("median_house_value", "0", "out_of_range", "must be greater than 0"),
        ("ocean_proximity", "", "missing_value", "a value is required"),
        ("ocean_proximity", "near bay", "not_allowed", "not one of the allowed values: <1H OCEAN, INLAND, ISLAND, "
                                                       "NEAR BAY, NEAR OCEAN"),
    ],
)  # fmt: skip
def test_each_rule_rejects_the_row_with_its_reason(column, value, reason, detail):
    # GIVEN a good row and a row with one bad value WHEN validated
    result = check(GOOD_ROW, with_value(column, value))

    # THEN the good row loads and the bad one is reported with its data row number, column and reason
    assert list(result.good.index) == [1]
    assert result.rejected.to_dict("records") == [
        {"row_number": 2, "column": column, "reason": reason, "value": value, "detail": detail}
    ]
    assert result.rows_rejected == 1


def test_a_row_with_several_problems_is_reported_once_per_value_and_counted_once():
    bad = with_value("latitude", "99")
    bad = ",".join(v if i != 6 else "x" for i, v in enumerate(bad.split(",")))  # households
    result = check(GOOD_ROW, bad, GOOD_ROW)
    assert result.rejected[["row_number", "column"]].values.tolist() == [[2, "latitude"], [2, "households"]]
    assert result.rows_rejected == 1 and list(result.good.index) == [1, 3]


def test_whitespace_around_values_is_ignored():
    result = check(" -122.23 , 37.88,41,880,129,322,126,8.3252,452600, NEAR BAY ")
    assert len(result.good) == 1 and result.good["ocean_proximity"].iloc[0] == "NEAR BAY"


def test_a_file_whose_rows_are_all_bad_is_rejected_as_a_whole_with_its_rejections():
    with pytest.raises(NoValidRows) as caught:
        check(with_value("latitude", "0"), with_value("longitude", "0"))
    assert caught.value.code == NO_VALID_ROWS
    assert caught.value.validation.rows_rejected == 2
    assert list(caught.value.validation.rejected["row_number"]) == [1, 2]
