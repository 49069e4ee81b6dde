"""Open Inference Protocol tensors: requests (JSON and tritonclient's binary data) to feature
columns, every way a request is wrong as a Rejection naming the input, answers to tensors."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from tritonclient.utils import deserialize_bytes_tensor

from service.http.request_body import RecordParser
from service.model.schema import Feature, FeatureSchema
from service.open_inference.tensors import Requested, TensorParser, output_names, response_tensors
from service.settings import Limits
from service.validation.results import Rejection

# A space in the name: tensors are named by feature, and nothing may split or mangle it.
NUMBER, CATEGORY = "petal length", "colour"
SCHEMA = FeatureSchema(
    features=[
        Feature(NUMBER, "numeric", "float64", nullable=True),
        Feature(CATEGORY, "categorical", "str", nullable=True, categories=["blue", "red"]),
    ],
    target="species",
    classes=["setosa", "virginica"],
)
OUTPUTS = output_names(SCHEMA.classes)


def limits(**overrides) -> Limits:
    return dataclasses.replace(Limits.from_env(), **{"max_batch_rows": 10, **overrides})


def parser(**overrides) -> TensorParser:
    bounds = limits(**overrides)
    return TensorParser(SCHEMA, bounds, RecordParser(SCHEMA, bounds), "/v2/models/m")


def number(data, shape=None, datatype="FP64", name=NUMBER) -> dict:
    shape = [len(data)] if shape is None else shape
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def text(data, shape=None, name=CATEGORY) -> dict:
    return number(data, shape, "BYTES", name)


GOOD = [number([1.5, 2.0]), text(["red", "blue"])]


def parse(document, header_length=None, **overrides):
    body = document if isinstance(document, bytes) else orjson.dumps(document)
    return parser(**overrides).parse(body, header_length, OUTPUTS)


def triton_input(name, array, datatype, binary=True):
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def triton_body(*inputs, outputs=None) -> tuple[bytes, str]:
    """The body and Inference-Header-Content-Length tritonclient itself would send."""
    body, json_size = triton.InferenceServerClient.generate_request_body(
        list(inputs), outputs=outputs, request_id="x"
    )
    return body, str(json_size)


TRITON = triton_body(
    triton_input(NUMBER, np.array([1.5, 2.0]), "FP64"),
    triton_input(CATEGORY, np.array(["red", "blue"], dtype=object), "BYTES"),
)


def with_binary(tensor: dict, chunk: bytes) -> tuple[bytes, str]:
    """A request whose `tensor` carries `chunk` as binary data, the other feature in JSON."""
    binary = {k: v for k, v in tensor.items() if k != "data"}
    binary["parameters"] = {"binary_data_size": len(chunk)}
    others = [t for t in GOOD if t["name"] != tensor["name"]]
    header = orjson.dumps({"inputs": [binary, *others]})
    return header + chunk, str(len(header))


def rejected(result, status: int, error: str, *words: str) -> None:
    assert isinstance(result, Rejection), result
    assert (result.status, result.error) == (status, error), result.message
    for word in words:
        assert word in result.message, result.message


def values(column) -> list:
    return [None if pd.isna(v) else v for v in column]


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        (number([1.5, None]), [1.5, None]),
        (number([[1.5], [None]], shape=[2, 1]), [1.5, None]),
        (number([3, None], datatype="INT64"), [3.0, None]),
    ],
    ids=["flat", "nested", "int64"],
)
def test_json_data_becomes_float_and_text_columns_in_schema_order(tensor, expected):
    # The category comes first, so schema order is the parser's doing, not the request's.
    result = parse({"id": "r1", "inputs": [text([[None], ["red"]], shape=[2, 1]), tensor]})
    assert list(result.columns) == [NUMBER, CATEGORY]
    assert result.columns[NUMBER].dtype == np.float64
    assert values(result.columns[NUMBER]) == expected
    assert str(result.columns[CATEGORY].dtype) == "str"
    assert values(result.columns[CATEGORY]) == [None, "red"]
    assert result.id == "r1"


@pytest.mark.parametrize(
    ("array", "datatype"),
    [
        (np.array([1.5, np.nan, -0.1]), "FP64"),
        (np.array([[1.5], [np.nan], [-0.1]], dtype=np.float32), "FP32"),
        (np.array([3, -7, 2**40], dtype=np.int64), "INT64"),
    ],
)
def test_tritonclient_binary_data_decodes(array, datatype):
    body, header_length = triton_body(
        triton_input(NUMBER, array, datatype),
        triton_input(CATEGORY, np.array(["red", "blü", ""], dtype=object), "BYTES"),
    )
    assert int(header_length) < len(body)  # the values really travel as binary
    result = parser().parse(body, header_length, OUTPUTS)
    assert result.columns[NUMBER].dtype == np.float64
    np.testing.assert_array_equal(result.columns[NUMBER], array.reshape(-1).astype(np.float64))
    assert list(result.columns[CATEGORY]) == ["red", "blü", ""]
    # tritonclient asks for binary outputs when it names none.
    assert result.outputs == [Requested("label", True), Requested("probabilities", True)]


@pytest.mark.parametrize("binary_number", [True, False])
def test_binary_and_json_inputs_mix_in_one_request(binary_number):
    body, header_length = triton_body(
        triton_input(CATEGORY, np.array(["blue", "red"], dtype=object), "BYTES", not binary_number),
        triton_input(NUMBER, np.array([4.0, 5.5]), "FP64", binary_number),
    )
    result = parser().parse(body, header_length, OUTPUTS)
    assert result.columns[NUMBER].tolist() == [4.0, 5.5]
    assert list(result.columns[CATEGORY]) == ["blue", "red"]


def swap(tensor: dict) -> dict:
    """The good request with `tensor` in place of the good input of its name."""
    return {"inputs": [tensor if t["name"] == tensor["name"] else t for t in GOOD]}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"id": "x"}, ['"inputs"']),
        (
            {"inputs": [*GOOD, number([1, 2], name="sepal width")]},
            ["'sepal width'", "/v2/models/m"],
        ),
        ({"inputs": GOOD[:1]}, ["lacks input 'colour'"]),
        ({"inputs": [*GOOD, GOOD[0]]}, ["'petal length' is sent twice"]),
        (swap(number(["1", "2"], datatype="BYTES")), ["'petal length'", '"BYTES"']),
        (swap(number([1.0, 2.0], name=CATEGORY)), ["'colour'", '"FP64"']),
        (swap(number([True, False], datatype="BOOL")), ["'petal length'", '"BOOL"']),
        (swap(number([1, 2, 3, 4], [2, 2])), ["'petal length' has shape [2,2]"]),
        (swap(number([1], [])), ["'petal length' has shape []"]),
        (swap(number([1, 2], [-2])), ["'petal length' has shape [-2]"]),
        (swap(text(["red"])), ["'colour' has 1 rows"]),
        (swap(number([1.5], [2])), ["'petal length' has 1 values"]),
        (swap(number([1.5, "2"])), ["'petal length' must hold numbers", "row 1 is not"]),
        (swap(text(["red", 3])), ["'colour' must hold strings", "row 1 is not"]),
        ({"inputs": GOOD, "outputs": [{"name": "score"}]}, ["no output 'score'", "label, prob"]),
    ],
)
def test_a_wrong_tensor_is_rejected_naming_the_input(document, words):
    rejected(parse(document), 400, "invalid_tensor", *words)


@pytest.mark.parametrize(
    ("document", "overrides", "status", "error", "word"),
    [
        (b'{"inputs": [', {}, 400, "malformed_json", "not valid JSON"),
        (
            swap(text(["red", "crimson"])),
            {"max_string_chars": 5},
            400,
            "invalid_tensor",
            "'colour' must be at most",
        ),
        ({"inputs": [number([1.0] * 11), text(["red"] * 11)]}, {}, 413, "batch_too_large", "=10"),
        ({"inputs": [number([]), text([])]}, {}, 400, "empty_batch", "'petal length' has no"),
    ],
)
def test_an_unreadable_or_oversized_request_is_rejected(document, overrides, status, error, word):
    rejected(parse(document, **overrides), status, error, word)


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ((TRITON[0][:-1], TRITON[1]), ["'colour'", "binary_data_size 15", "only 14 bytes"]),
        ((TRITON[0] + b"\0", TRITON[1]), ["1 bytes of binary data"]),
        ((TRITON[0], "abc"), ["'abc'"]),
        ((TRITON[0], str(len(TRITON[0]) + 1)), [f"body's {len(TRITON[0])} bytes"]),
        ((TRITON[0], "-1"), ["'-1'"]),
        (with_binary(GOOD[0], bytes(12)), ["'petal length' has 12 bytes of FP64"]),
        (with_binary(GOOD[1], b"\x03\x00"), ["'colour'", "inside a length prefix"]),
        (with_binary(GOOD[1], struct.pack("<I", 9) + b"red"), ["'colour'", "longer"]),
        (with_binary(GOOD[1], struct.pack("<I", 2) + b"\xff\xfe"), ["'colour'", "not UTF-8"]),
        (
            with_binary(GOOD[1], struct.pack("<I", 3) + b"red"),
            ["'colour' has 1 values; its shape says 2"],
        ),
    ],
)
def test_wrong_binary_data_is_rejected(request_, words):
    body, header_length = request_
    rejected(parser().parse(body, header_length, OUTPUTS), 400, "invalid_tensor", *words)


ON, OFF, ALL = {"binary_data": True}, {"binary_data": False}, {"binary_data_output": True}
MIXED = [{"name": "probability_setosa", "parameters": OFF}, {"name": "label"}]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, [("label", False), ("probabilities", False)]),
        ({"parameters": ALL}, [("label", True), ("probabilities", True)]),
        ({"outputs": [{"name": "probabilities", "parameters": ON}]}, [("probabilities", True)]),
        ({"parameters": ALL, "outputs": MIXED}, [("probability_setosa", False), ("label", True)]),
    ],
)
def test_outputs_and_their_binary_choice(extra, expected):
    assert parse({"inputs": GOOD, **extra}).outputs == [Requested(*o) for o in expected]


def test_tritonclient_requested_outputs_are_understood():
    body, header_length = triton_body(
        triton_input(NUMBER, np.array([1.5]), "FP64"),
        triton_input(CATEGORY, np.array(["red"], dtype=object), "BYTES"),
        outputs=[
            triton.InferRequestedOutput("label", binary_data=False),
            triton.InferRequestedOutput("probability_setosa"),
        ],
    )
    result = parser().parse(body, header_length, OUTPUTS)
    assert result.outputs == [Requested("label", False), Requested("probability_setosa", True)]


RECORDS = [{"petal length": 1.5, "colour": "red"}, {"petal length": None, "colour": None}]


def records_request(records: list, content_type: str, binary: bool) -> tuple[bytes, str | None]:
    element = orjson.dumps(records).decode()
    if not binary:
        tensor = text([element], name="records")
        tensor["parameters"] = {"content_type": content_type}
        return orjson.dumps({"inputs": [tensor]}), None
    tensor = triton_input("records", np.array([element], dtype=object), "BYTES")
    # tritonclient 2.69 has no public setter for an input's parameters; MLServer's sets this.
    tensor._parameters["content_type"] = content_type
    return triton_body(tensor)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("content_type", ["pd_json", "str"])
@pytest.mark.parametrize(
    "records",
    [RECORDS, [{"petal length": "long", "colour": "red"}], [{"colour": "red", "stem": 1}]],
    ids=["good", "text-in-a-number", "unknown-and-missing-field"],
)
def test_a_tensor_of_json_records_is_parsed_as_predict_parses_them(records, content_type, binary):
    body, header_length = records_request(records, content_type, binary)
    result = parser().parse(body, header_length, OUTPUTS)
    expected = RecordParser(SCHEMA, limits()).parse(orjson.dumps({"records": records}))
    if isinstance(expected, Rejection):
        assert result == expected
        assert expected.error == "validation_failed"  # the case really is a bad record
    else:
        assert list(result.columns) == list(expected)
        assert result.columns[NUMBER].dtype == np.float64
        for name in expected:
            assert values(result.columns[name]) == values(expected[name])


# A parameters field of the wrong type, and bytes no tensor accounts for, are 400s too.
@pytest.mark.parametrize(
    "document",
    [
        {"inputs": [{**GOOD[0], "parameters": [1]}, GOOD[1]]},
        {"inputs": GOOD, "outputs": [{"name": "label", "parameters": "binary"}]},
    ],
    ids=["input", "output"],
)
def test_parameters_that_are_no_object_are_rejected(document):
    rejected(parse(document), 400, "invalid_tensor")


def test_binary_bytes_beside_a_json_records_tensor_are_rejected():
    body, _ = records_request(RECORDS, "pd_json", binary=False)
    result = parser().parse(body + b"junk", str(len(body)), OUTPUTS)
    rejected(result, 400, "invalid_tensor", "4 bytes")


# Distinct values per cell, so a transposed or wrongly indexed column cannot pass.
PROBABILITIES = np.array([[0.9, 0.1], [0.25, 0.75], [0.6, 0.4]])
BINARY = {"json": [False] * 4, "binary": [True] * 4, "mixed": [True, False, False, True]}


def decoded(tensor: dict, chunks: list[bytes]) -> list:
    if "data" in tensor:
        assert "parameters" not in tensor
        return tensor["data"]
    chunk = chunks.pop(0)
    assert tensor["parameters"] == {"binary_data_size": len(chunk)}
    if tensor["datatype"] == "BYTES":
        return [v.decode() for v in deserialize_bytes_tensor(chunk)]
    return np.frombuffer(chunk, "<i8" if tensor["datatype"] == "INT64" else "<f8").tolist()


@pytest.mark.parametrize("binary", BINARY.values(), ids=BINARY.keys())
@pytest.mark.parametrize(
    ("classes", "labels", "label_type"),
    [
        (SCHEMA.classes, np.array(["setosa", "virginica", "setosa"], dtype=object), "BYTES"),
        ([0, 1], np.array([0, 1, 0]), "INT64"),
    ],
    ids=["string-classes", "integer-classes"],
)
def test_response_tensors(classes, labels, label_type, binary):
    names = output_names(classes)
    requested = [Requested(name, wanted) for name, wanted in zip(names, binary, strict=True)]
    tensors, chunks = response_tensors(requested, classes, labels, PROBABILITIES)
    assert [(t["name"], t["datatype"], t["shape"]) for t in tensors] == [
        ("label", label_type, [3]),
        ("probabilities", "FP64", [3, 2]),
        (f"probability_{classes[0]}", "FP64", [3]),
        (f"probability_{classes[1]}", "FP64", [3]),
    ]
    assert len(chunks) == sum(binary)
    got = [decoded(tensor, chunks) for tensor in tensors]
    assert got[0] == labels.tolist()
    assert all(type(v) is type(labels.tolist()[0]) for v in got[0])
    assert got[1] == PROBABILITIES.reshape(-1).tolist()
    assert got[2] == PROBABILITIES[:, 0].tolist()
    assert got[3] == PROBABILITIES[:, 1].tolist()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_regressor_answers_one_prediction_tensor_of_floats(binary):
    names = output_names([])
    assert names == ["prediction"]
    values = np.array([1.5, -2.25, 1e6])
    assert parser().requested(None, {"binary_data_output": binary}, names) == [
        Requested("prediction", binary)
    ]
    tensors, chunks = response_tensors(
        [Requested("prediction", binary)], [], values, np.empty((3, 0))
    )
    assert [(t["name"], t["datatype"], t["shape"]) for t in tensors] == [
        ("prediction", "FP64", [3])
    ]
    assert decoded(tensors[0], chunks) == values.tolist()
