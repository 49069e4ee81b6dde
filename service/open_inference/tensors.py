"""Open Inference Protocol tensors: a request's inputs to feature columns, answers to tensors.

A client sends one tensor per feature (name, datatype, shape, data), or one BYTES tensor of JSON
records as MLServer's pandas codec does. Data comes as JSON or, with the protocol's binary
tensor data extension, as raw little-endian bytes after a JSON header whose length is in the
`Inference-Header-Content-Length` header: tritonclient sends that by default. Every way a
tensor can be wrong is a Rejection naming the input, never an exception.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd

from service.http.request_body import ArrayLike, RecordParser
from service.model.schema import FeatureSchema
from service.settings import Limits
from service.validation.results import Rejection, rows_phrase

HEADER_LENGTH = "inference-header-content-length"
# Numbers a numeric feature takes, as the protocol names them; BOOL is no number here, as
# `true` is none in a JSON record.
NUMBER_DTYPES = {
    "FP64": "<f8",
    "FP32": "<f4",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT64": "<u8",
    "UINT32": "<u4",
    "UINT16": "<u2",
    "UINT8": "u1",
}
TEXT_DTYPE = "BYTES"
LABEL, PROBABILITIES = "label", "probabilities"
# A regressor's one output: the predicted value per row.
PREDICTION = "prediction"
# The `content_type` parameters MLServer's codecs give one BYTES tensor of JSON records.
RECORD_CONTENT_TYPES = {"pd_json", "str"}


def invalid(message: str) -> Rejection:
    return Rejection(400, "invalid_tensor", message)


def _parameters(item: dict) -> dict:
    """Return an input's or output's parameters; one that is no object is checked first."""
    parameters = item.get("parameters")
    return parameters if isinstance(parameters, dict) else {}


def _bad_parameters(items: list, kind: str) -> Rejection | None:
    for item in items:
        if item.get("parameters") is not None and not isinstance(item["parameters"], dict):
            return invalid(f"{kind} {excerpt_json(item.get('name'))}: parameters must be an object")
    return None


@dataclass(frozen=True)
class Requested:
    """One output the request asks for, and whether it wants it as binary data."""

    name: str
    binary: bool


@dataclass
class InferRequest:
    """A parsed inference request: the feature columns and what to answer with."""

    columns: dict[str, ArrayLike]
    id: str | None = None
    outputs: list[Requested] = field(default_factory=list)


def output_names(classes: Sequence) -> list[str]:
    """Return every output a classifier answers: the label, the [rows, classes] probabilities
    and one probability tensor per class; a regressor (no classes) answers its prediction."""
    if not classes:
        return [PREDICTION]
    return [LABEL, PROBABILITIES, *(f"probability_{label}" for label in classes)]


class TensorParser:
    """Parses inference requests for one feature schema; built once at start-up."""

    def __init__(
        self, schema: FeatureSchema, limits: Limits, records: RecordParser, metadata_path: str
    ) -> None:
        self.schema = schema
        self.metadata_path = metadata_path  # where a client reads the inputs: GET it
        self.limits = limits
        self.records = records  # the /predict parser, for a tensor of JSON records
        self.kinds = {feature.name: feature.kind for feature in schema.features}

    def parse(
        self, body: bytes, header_length: str | None, outputs: Sequence[str]
    ) -> InferRequest | Rejection:
        """Return the request in `body`, or the Rejection naming what is wrong with it."""
        split = _split(body, header_length)
        if isinstance(split, Rejection):
            return split
        header, binary = split
        try:
            document = orjson.loads(header)
        except orjson.JSONDecodeError as error:
            return Rejection(400, "malformed_json", f"the request is not valid JSON: {error}")
        if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
            return invalid('the request must be a JSON object with an "inputs" list')
        if not document["inputs"]:
            return invalid('"inputs" is empty; send one tensor per feature')
        request_id = document.get("id")
        if request_id is not None and not isinstance(request_id, str):
            return invalid('"id" must be a string')
        parameters = document.get("parameters") or {}
        if not isinstance(parameters, dict):
            return invalid('"parameters" must be an object')
        requested = self.requested(document.get("outputs"), parameters, outputs)
        if isinstance(requested, Rejection):
            return requested
        columns = self.columns(document["inputs"], binary)
        if isinstance(columns, Rejection):
            return columns
        return InferRequest(columns, request_id, requested)

    def requested(
        self, outputs: object, parameters: dict, known: Sequence[str]
    ) -> list[Requested] | Rejection:
        binary = parameters.get("binary_data_output") is True
        if outputs is None:
            defaults = (LABEL, PROBABILITIES, PREDICTION)
            return [Requested(name, binary) for name in known if name in defaults]
        if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
        ):
            return invalid('"outputs" must be a list of objects with a "name"')
        unknown = [o["name"] for o in outputs if o["name"] not in known]
        if unknown:
            return invalid(
                f"this model has no output {self.records.names_excerpt(unknown)}; it answers "
                + ", ".join(known)
            )
        bad = _bad_parameters(outputs, "output")
        if bad is not None:
            return bad
        chosen = []
        for output in outputs:
            wanted = _parameters(output).get("binary_data")
            chosen.append(Requested(output["name"], binary if wanted is None else wanted is True))
        return chosen

    def columns(self, inputs: list, binary: memoryview) -> dict[str, ArrayLike] | Rejection:
        if not all(isinstance(tensor, dict) for tensor in inputs):
            return invalid('every input must be an object with "name", "datatype" and "shape"')
        bad = _bad_parameters(inputs, "input")
        if bad is not None:
            return bad
        if len(inputs) == 1 and _holds_records(inputs[0], self.kinds):
            return self.records_tensor(inputs[0], binary)
        names = [tensor.get("name") for tensor in inputs]
        if not all(isinstance(name, str) for name in names):
            return invalid('every input needs a "name", the feature it holds')
        unknown = [name for name in names if name not in self.kinds]
        if unknown:
            return invalid(
                f"this model has no input {self.records.names_excerpt(unknown)}; its inputs "
                f"are its features, listed by GET {self.metadata_path}"
            )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            return invalid(f"input {self.records.names_excerpt(repeated)} is sent twice")
        missing = [name for name in self.schema.names if name not in names]
        if missing:
            return invalid(
                f"the request lacks input {self.records.names_excerpt(missing)}: send one "
                "tensor per feature (a gap is null in JSON data, NaN in binary)"
            )
        columns: dict[str, ArrayLike] = {}
        offset = 0
        rows = None
        for tensor in inputs:
            shaped = self.rows_of(tensor)
            if isinstance(shaped, Rejection):
                return shaped
            if rows is not None and shaped != rows:
                return invalid(
                    f"input {tensor['name']!r} has {shaped} rows where {inputs[0]['name']!r} "
                    f"has {rows}; every input holds one value per row"
                )
            rows = shaped
            decoded = self.decode(tensor, rows, binary, offset)
            if isinstance(decoded, Rejection):
                return decoded
            values, offset = decoded
            columns[tensor["name"]] = values
        if offset != len(binary):
            return invalid(
                f"the body has {len(binary) - offset} bytes of binary data that no input's "
                "binary_data_size accounts for"
            )
        return {name: columns[name] for name in self.schema.names}

    def rows_of(self, tensor: dict) -> int | Rejection:
        """Return the rows a tensor's shape says: [rows] or [rows, 1]."""
        name, shape = tensor["name"], tensor.get("shape")
        if (
            not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            or len(shape) not in (1, 2)
            or (len(shape) == 2 and shape[1] != 1)
        ):
            return invalid(
                f"input {name!r} has shape {excerpt_json(shape)}; a feature is [rows] or [rows, 1]"
            )
        rows = shape[0]
        if rows == 0:
            return Rejection(400, "empty_batch", f"input {name!r} has no rows; send at least one")
        if rows > self.limits.max_batch_rows:
            return Rejection(
                413,
                "batch_too_large",
                f"{rows} rows is more than MAX_BATCH_ROWS={self.limits.max_batch_rows}; "
                "split the batch",
            )
        return rows

    def decode(
        self, tensor: dict, rows: int, binary: memoryview, offset: int
    ) -> tuple[ArrayLike, int] | Rejection:
        """Return the tensor's values as the feature column, and where its binary data ended."""
        name, dtype = tensor["name"], tensor.get("datatype")
        numeric = self.kinds[name] == "numeric"
        if numeric and dtype not in NUMBER_DTYPES:
            return invalid(
                f"input {name!r} is a number feature and has datatype {excerpt_json(dtype)}; "
                "send FP64, FP32 or INT64"
            )
        if not numeric and dtype != TEXT_DTYPE:
            return invalid(
                f"input {name!r} is a category feature and has datatype {excerpt_json(dtype)}; "
                "send BYTES"
            )
        size = _parameters(tensor).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                return invalid(f"input {name!r} has binary_data_size {excerpt_json(size)}")
            if offset + size > len(binary):
                return invalid(
                    f"input {name!r} says binary_data_size {size}, but only "
                    f"{len(binary) - offset} bytes of binary data are left"
                )
            chunk = binary[offset : offset + size]
            values = (
                _binary_numbers(name, dtype, chunk, rows)
                if numeric
                else self._binary_text(name, chunk, rows)
            )
            return (values, offset + size) if not isinstance(values, Rejection) else values
        if "data" not in tensor:
            return invalid(f"input {name!r} has neither data nor binary_data_size")
        flat = _flat(tensor["data"])
        if isinstance(flat, str):
            return invalid(f"input {name!r}: {flat}")
        if len(flat) != rows:
            return invalid(f"input {name!r} has {len(flat)} values; its shape says {rows}")
        values = _json_numbers(name, flat) if numeric else self._json_text(name, flat)
        return (values, offset) if not isinstance(values, Rejection) else values

    def records_tensor(self, tensor: dict, binary: memoryview) -> dict[str, ArrayLike] | Rejection:
        """Return the columns of one BYTES tensor whose single element is a JSON list of records,
        checked as /predict checks its records."""
        name = tensor.get("name")
        size = _parameters(tensor).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
                return invalid(f"input {name!r} has binary_data_size {excerpt_json(size)}")
            elements = self._binary_text(name, binary, None)
            if isinstance(elements, Rejection):
                return elements
        else:
            if len(binary):
                return invalid(
                    f"the body has {len(binary)} bytes of binary data that no input's "
                    "binary_data_size accounts for"
                )
            elements = _flat(tensor.get("data"))
            if isinstance(elements, str):
                return invalid(f"input {name!r}: {elements}")
        if len(elements) != 1 or not isinstance(elements[0], str):
            return invalid(
                f"input {name!r} must hold one string, the JSON list of records; it holds "
                f"{len(elements)} values"
            )
        try:
            records = orjson.loads(elements[0])
        except orjson.JSONDecodeError as error:
            return Rejection(
                400, "malformed_json", f"input {name!r} is not a JSON list of records: {error}"
            )
        if not isinstance(records, list) or not records:
            return invalid(f"input {name!r} must be a non-empty JSON list of records")
        if len(records) > self.limits.max_batch_rows:
            return Rejection(
                413,
                "batch_too_large",
                f"{len(records)} records is more than MAX_BATCH_ROWS="
                f"{self.limits.max_batch_rows}; split the batch",
            )
        return self.records.columns(records)

    def _json_text(self, name: str, values: list) -> ArrayLike | Rejection:
        bad = [i for i, v in enumerate(values) if v is not None and not isinstance(v, str)]
        if bad:
            return invalid(
                f"input {name!r} must hold strings or null; {rows_phrase(bad)} "
                f"{'is' if len(bad) == 1 else 'are'} not"
            )
        return self._text(name, values)

    def _binary_text(self, name: str, chunk: memoryview, rows: int | None) -> list | Rejection:
        values = []
        at = 0
        while at < len(chunk):
            if at + 4 > len(chunk):
                return invalid(f"input {name!r}: its BYTES data ends inside a length prefix")
            (length,) = struct.unpack_from("<I", chunk, at)
            at += 4
            if at + length > len(chunk):
                return invalid(f"input {name!r}: an element is longer than its binary data")
            try:
                values.append(bytes(chunk[at : at + length]).decode())
            except UnicodeDecodeError:
                return invalid(f"input {name!r}: element {len(values)} is not UTF-8 text")
            at += length
        if rows is None:
            return values
        if len(values) != rows:
            return invalid(f"input {name!r} has {len(values)} values; its shape says {rows}")
        return self._text(name, values)

    def _text(self, name: str, values: list) -> ArrayLike | Rejection:
        limit = self.limits.max_string_chars
        long = [i for i, v in enumerate(values) if v is not None and len(v) > limit]
        if long:
            return invalid(
                f"input {name!r} must be at most MAX_STRING_CHARS={limit} characters; "
                f"{rows_phrase(long)} {'is' if len(long) == 1 else 'are'} longer"
            )
        return pd.array(values, dtype="str")


def _split(body: bytes, header_length: str | None) -> tuple[bytes, memoryview] | Rejection:
    """Return the JSON header and the binary data after it."""
    if header_length is None:
        return body, memoryview(b"")
    length = int(header_length) if header_length.isascii() and header_length.isdigit() else -1
    if not 0 <= length <= len(body):
        return invalid(
            f"Inference-Header-Content-Length is {header_length[:40]!r}; it must be the length "
            f"of the JSON header, at most the body's {len(body)} bytes"
        )
    view = memoryview(body)
    return bytes(view[:length]), view[length:]


def _holds_records(tensor: dict, kinds: dict) -> bool:
    content_type = _parameters(tensor).get("content_type")
    return (
        tensor.get("datatype") == TEXT_DTYPE
        and tensor.get("name") not in kinds
        and content_type in RECORD_CONTENT_TYPES
    )


def _flat(data: object) -> list | str:
    """Return `data` flattened row-major, or why it cannot be (a message)."""
    if not isinstance(data, list):
        return "data must be a list"
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list = []
    stack = [iter(data)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            if len(stack) > 8:
                return "data is nested deeper than a tensor of features can be"
            stack.append(iter(item))
        else:
            flat.append(item)
    return flat


_END = object()


def _json_numbers(name: str, values: list) -> np.ndarray | Rejection:
    types = set(map(type, values))
    if types <= {int, float, type(None)}:
        try:
            return np.array(values, dtype=np.float64)  # None becomes NaN
        except OverflowError:
            pass
    bad = [
        i
        for i, v in enumerate(values)
        if v is not None and (type(v) not in (int, float) or not math.isfinite(float(v)))
    ]
    return invalid(
        f"input {name!r} must hold numbers or null; {rows_phrase(bad)} "
        f"{'is' if len(bad) == 1 else 'are'} not"
    )


def _binary_numbers(name: str, dtype: str, chunk: memoryview, rows: int) -> np.ndarray | Rejection:
    item = np.dtype(NUMBER_DTYPES[dtype])
    if len(chunk) != rows * item.itemsize:
        return invalid(
            f"input {name!r} has {len(chunk)} bytes of {dtype} data; its shape says {rows} "
            f"values, {rows * item.itemsize} bytes"
        )
    return np.frombuffer(chunk, dtype=item).astype(np.float64)


def excerpt_json(value: object, limit: int = 60) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label_datatype(classes: Sequence) -> str:
    """Return the `label` output's datatype: INT64 for integer classes, else BYTES."""
    return "INT64" if all(isinstance(c, (int, np.integer)) for c in classes) else TEXT_DTYPE


def response_tensors(
    requested: Sequence[Requested],
    classes: Sequence,
    labels: np.ndarray,
    probabilities: np.ndarray,
) -> tuple[list[dict], list[bytes]]:
    """Return the output tensors the request asked for and, in order, the binary data of those
    it asked for as binary."""
    rows = len(labels)
    numbered = label_datatype(classes) == "INT64"
    tensors, chunks = [], []
    for output in requested:
        if output.name == PREDICTION:
            datatype, shape, values = "FP64", [rows], labels
        elif output.name == LABEL:
            datatype, shape = ("INT64" if numbered else TEXT_DTYPE), [rows]
            values = np.asarray(labels, dtype=np.int64) if numbered else labels
        elif output.name == PROBABILITIES:
            datatype, shape, values = "FP64", [rows, len(classes)], probabilities
        else:
            index = [f"probability_{label}" for label in classes].index(output.name)
            datatype, shape, values = "FP64", [rows], probabilities[:, index]
        tensor = {"name": output.name, "datatype": datatype, "shape": shape}
        if output.binary:
            chunk = _binary(values, datatype)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = (
                [str(v) for v in values]
                if datatype == TEXT_DTYPE
                else np.asarray(values).reshape(-1).tolist()
            )
        tensors.append(tensor)
    return tensors, chunks


def _binary(values: np.ndarray, datatype: str) -> bytes:
    if datatype == TEXT_DTYPE:
        encoded = [str(value).encode() for value in values]
        return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    dtype = "<i8" if datatype == "INT64" else "<f8"
    return np.ascontiguousarray(values, dtype=dtype).tobytes()
