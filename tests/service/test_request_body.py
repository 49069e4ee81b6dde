import json

import numpy as np
import pandas as pd
import pytest

from service.api_models import predict_input_spec, record_model
from service.request_body import RecordParser, Rejection, csv_frame
from service.schema import Feature, FeatureSchema

SCHEMA = FeatureSchema(
    features=[
        Feature("age", "numeric", "float64", nullable=True),
        Feature("city", "categorical", "str", nullable=True, categories=["east", "north"]),
        Feature("plan", "categorical", "str", nullable=False, categories=["basic", "pro"]),
    ],
    target="churned",
    classes=[0, 1],
    label_kind="integer",
)
GOOD = {"age": 30, "city": None, "plan": "pro"}


def _parse(body, max_rows: int = 10):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RecordParser(SCHEMA, max_rows).parse(raw)


def test_good_records_become_columns_in_schema_order():
    columns = _parse({"records": [{"plan": "basic", "city": "east", "age": 1.5}, GOOD]})
    assert list(columns) == ["age", "city", "plan"]
    assert columns["age"].dtype == np.float64 and columns["age"].tolist() == [1.5, 30.0]
    assert pd.isna(columns["city"]).tolist() == [False, True]
    assert str(columns["plan"].dtype) == "str"


def test_integer_and_null_numbers_are_floats_and_nan():
    columns = _parse({"records": [{**GOOD, "age": 3}, {**GOOD, "age": None}]})
    assert columns["age"][0] == 3.0 and np.isnan(columns["age"][1])


@pytest.mark.parametrize(
    ("body", "status", "error", "words"),
    [
        (b"{", 400, "malformed_json", "not valid JSON"),
        (b"\xff\xfe", 400, "malformed_json", "not valid JSON"),
        ([GOOD], 400, "invalid_body", "must be a JSON object"),
        ({"records": GOOD}, 400, "invalid_body", "must be a list"),
        ({"records": [GOOD], "extra": 1}, 400, "invalid_body", "'extra'"),
        ({"records": []}, 400, "empty_batch", "is empty"),
        ({"records": [GOOD] * 11}, 413, "batch_too_large", "MAX_BATCH_ROWS=10"),
        ({"records": [GOOD, 3, "x"]}, 400, "invalid_body", "rows 1 and 2 are not"),
    ],
)
def test_body_shape_errors(body, status, error, words):
    rejection = _parse(body)
    assert isinstance(rejection, Rejection)
    assert (rejection.status, rejection.error) == (status, error)
    assert words in rejection.message


def test_field_and_type_errors_name_column_rule_rows_and_values():
    records = [GOOD, {**GOOD, "age": "old"}, {"age": True, "plan": 5, "colour": "red"}]
    rejection = _parse({"records": records})
    by_column = {(f.column, f.expectation): f for f in rejection.failures}
    assert set(by_column) == {
        ("colour", "expect_table_columns_to_match_set"),
        ("city", "expect_column_to_exist"),
        ("age", "expect_column_values_to_be_in_type_list"),
        ("plan", "expect_column_values_to_be_in_type_list"),
    }
    age = by_column[("age", "expect_column_values_to_be_in_type_list")]
    assert age.rows == [1, 2] and age.observed == ["old", True]
    assert age.message == "age must be a number or null; rows 1 and 2 are not"
    assert by_column[("city", "expect_column_to_exist")].rows == [2]
    json.dumps(rejection.body())


def test_rows_listed_are_capped_but_counted():
    rejection = _parse({"records": [{**GOOD, "age": "x"}] * 30}, max_rows=100)
    failure = rejection.failures[0]
    assert len(failure.rows) == 20 and failure.unexpected_count == 30
    assert "and 25 more" in failure.message


def test_csv_keeps_extra_columns_and_flags_text_in_numeric_columns():
    frame = csv_frame(b"id,age,city,plan\n1,3,east,pro\n2,,,basic\n", SCHEMA, 10)
    assert list(frame.columns) == ["id", "age", "city", "plan"]
    assert np.isnan(frame["age"].iloc[1]) and pd.isna(frame["city"].iloc[1])
    rejection = csv_frame(b"age,city,plan\nold,east,pro\n4,east,pro\n", SCHEMA, 10)
    assert rejection.failures[0].rows == [0] and rejection.failures[0].observed == ["old"]
    missing = csv_frame(b"age,city\n1,east\n", SCHEMA, 10)
    assert missing.failures[0].column == "plan"
    assert csv_frame(b"", SCHEMA, 10).error == "malformed_csv"


def test_record_model_documents_names_types_nullability_and_categories():
    schema = record_model(SCHEMA).model_json_schema(by_alias=True)
    assert list(schema["properties"]) == ["age", "city", "plan"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["plan"]["enum"] == ["basic", "pro"]
    assert "null" in json.dumps(schema["properties"]["city"])
    assert set(schema["required"]) == {"age", "city", "plan"}


def test_input_spec_documents_records_and_parses_with_the_parser():
    import asyncio

    spec = predict_input_spec(SCHEMA, RecordParser(SCHEMA, 10))

    class FakeRequest:
        async def body(self):
            return json.dumps({"records": [GOOD]}).encode()

    parsed = asyncio.run(spec.from_http_request(FakeRequest(), None))
    assert list(parsed.records) == ["age", "city", "plan"]
    assert "records" in spec.model_json_schema()["properties"]


def test_missing_field_message_offers_null_only_where_the_model_takes_it():
    rejection = _parse({"records": [{"plan": "pro"}]})
    messages = {f.column: f.message for f in rejection.failures}
    assert messages["age"] == "age is missing from row 0; send it, as null if unknown"
    rejection = _parse({"records": [{"age": 1, "city": None}]})
    assert rejection.failures[0].message == "plan is missing from row 0; send it"
