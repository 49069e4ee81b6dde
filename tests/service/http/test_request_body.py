import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from service.http.api_models import predict_input_spec, record_model
from service.http.request_body import RecordParser, Rejection, csv_frame
from service.model.schema import Feature, FeatureSchema
from service.settings import Limits


def limits(**overrides) -> Limits:
    """The default bounds, with `overrides`; MAX_BATCH_ROWS 10 unless told otherwise."""
    defaults = Limits.from_env()
    return dataclasses.replace(defaults, **{"max_batch_rows": 10, **overrides})


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
    return RecordParser(SCHEMA, limits(max_batch_rows=max_rows)).parse(raw)


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
    frame = csv_frame(b"id,age,city,plan\n1,3,east,pro\n2,,,basic\n", SCHEMA, limits())
    assert list(frame.columns) == ["id", "age", "city", "plan"]
    assert np.isnan(frame["age"].iloc[1]) and pd.isna(frame["city"].iloc[1])
    rejection = csv_frame(b"age,city,plan\nold,east,pro\n4,east,pro\n", SCHEMA, limits())
    assert rejection.failures[0].rows == [0] and rejection.failures[0].observed == ["old"]
    missing = csv_frame(b"age,city\n1,east\n", SCHEMA, limits())
    assert missing.failures[0].column == "plan"
    assert csv_frame(b"", SCHEMA, limits()).error == "malformed_csv"


def test_record_model_documents_names_types_nullability_and_categories():
    schema = record_model(SCHEMA).model_json_schema(by_alias=True)
    assert list(schema["properties"]) == ["age", "city", "plan"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["plan"]["enum"] == ["basic", "pro"]
    assert "null" in json.dumps(schema["properties"]["city"])
    assert set(schema["required"]) == {"age", "city", "plan"}


def test_input_spec_documents_records_and_hands_the_body_on_unparsed():
    import asyncio

    spec = predict_input_spec(SCHEMA, limits())
    body = json.dumps({"records": [GOOD]}).encode()

    class FakeRequest:
        async def body(self):
            return body

    parsed = asyncio.run(spec.from_http_request(FakeRequest(), None))
    # The runtime parses it, in the worker: BentoML's own process builds this spec too.
    assert parsed.records is body
    assert "records" in spec.model_json_schema()["properties"]


def test_missing_field_message_offers_null_only_where_the_model_takes_it():
    rejection = _parse({"records": [{"plan": "pro"}]})
    messages = {f.column: f.message for f in rejection.failures}
    assert messages["age"] == "age is missing from row 0; send it, as null if unknown"
    rejection = _parse({"records": [{"age": 1, "city": None}]})
    assert rejection.failures[0].message == "plan is missing from row 0; send it"


def test_a_record_with_too_many_fields_is_refused_before_its_keys_are_read():
    record = {**GOOD, **{f"k{i}": 1 for i in range(50)}}
    rejection = RecordParser(SCHEMA, limits(max_fields=20)).parse(
        json.dumps({"records": [GOOD, record]}).encode()
    )
    assert (rejection.status, rejection.error) == (400, "too_many_fields")
    assert rejection.message.startswith("row 1 has more than MAX_FIELDS=20 fields")


def test_a_long_string_is_refused_and_echoed_short():
    value = "x" * 5000
    rejection = RecordParser(SCHEMA, limits(max_string_chars=100)).parse(
        json.dumps({"records": [{**GOOD, "plan": value}]}).encode()
    )
    (failure,) = rejection.failures
    assert (failure.column, failure.rows) == ("plan", [0])
    assert "at most MAX_STRING_CHARS=100 characters" in failure.message
    (echoed,) = rejection.body(max_echo_chars=64)["failures"][0]["observed"]
    assert echoed == "x" * 64 + "…"


def test_unknown_keys_are_listed_a_few_at_a_time_and_cut_short():
    long_name = "evil\nINFO forged line " + "y" * 500
    records = [{**GOOD, long_name: 1, **{f"u{i}": 1 for i in range(200)}}]
    rejection = RecordParser(SCHEMA, limits()).parse(json.dumps({"records": records}).encode())
    body = rejection.body(max_failures=50, max_echo_chars=64)
    assert len(body["failures"]) == 50 and body["failures_not_listed"] == 151
    assert all(len(f["column"]) <= 65 for f in body["failures"])
    assert all(len(f["message"]) < 400 for f in body["failures"])
    assert len(json.dumps(body)) < 30_000


def test_extra_top_level_keys_are_named_a_few_at_a_time():
    document = {"records": [GOOD], **{f"extra{i}": 1 for i in range(1000)}}
    rejection = RecordParser(SCHEMA, limits()).parse(json.dumps(document).encode())
    assert rejection.error == "invalid_body"
    assert rejection.message.endswith("and 995 more") and len(rejection.message) < 300


def test_csv_with_too_many_columns_or_long_text_is_refused():
    wide = ",".join(f"c{i}" for i in range(30)) + "\n" + ",".join("1" * 30) + "\n"
    assert csv_frame(wide.encode(), SCHEMA, limits(max_fields=20)).error == "too_many_fields"
    long_text = b"age,city,plan\n1,east," + b"p" * 300 + b"\n"
    rejection = csv_frame(long_text, SCHEMA, limits(max_string_chars=100))
    assert [f.expectation for f in rejection.failures] == [
        "expect_column_value_lengths_to_be_between"
    ]
