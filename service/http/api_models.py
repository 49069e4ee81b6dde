"""The request and response models BentoML shows in /docs, built from the stored feature schema.

The input specs document the body and read it; the runtime parses it (runtime.py). BentoML's own
process builds these specs too and answers no request, so nothing here imports pandas.
"""

from pathlib import Path
from typing import Annotated, Literal, Optional

from _bentoml_sdk.io_models import IODescriptor
from bentoml.validators import ContentType
from pydantic import ConfigDict, Field, create_model

from service.model.schema import Feature, FeatureSchema
from service.observe.feedback import parse_feedback
from service.settings import Limits
from service.validation.results import Rejection
from service.validation.values import is_number

# An enum longer than this helps nobody in Swagger UI; the suite still checks the set.
MAX_ENUM_VALUES = 50


def documented_rules(suite: dict | None) -> dict[str, dict]:
    """Return, per column, the bounds and value set the suite holds for every value.

    Only expectations without `mostly` (every value must pass) become schema constraints, so
    the document never promises a bound the service does not enforce.
    """
    rules: dict[str, dict] = {}
    for item in (suite or {}).get("expectations", []):
        kwargs = item.get("kwargs") or {}
        column = kwargs.get("column")
        if not isinstance(column, str) or kwargs.get("mostly", 1) != 1:
            continue
        if item.get("type") == "expect_column_values_to_be_between":
            low, high = kwargs.get("min_value"), kwargs.get("max_value")
            bounds = rules.setdefault(column, {})
            if is_number(low):
                bounds["gt" if kwargs.get("strict_min") else "ge"] = float(low)
            if is_number(high):
                bounds["lt" if kwargs.get("strict_max") else "le"] = float(high)
        elif item.get("type") == "expect_column_values_to_be_in_set":
            value_set = kwargs.get("value_set")
            if isinstance(value_set, list) and all(isinstance(v, str) for v in value_set):
                rules.setdefault(column, {})["value_set"] = list(value_set)
    return rules


def _field_type(feature: Feature, rules: dict, max_string_chars: int):
    if feature.kind == "numeric":
        bounds = {key: rules[key] for key in ("ge", "gt", "le", "lt") if key in rules}
        value_type = Annotated[float, Field(**bounds)] if bounds else float
    else:
        categories = rules.get("value_set", feature.categories)
        if categories and len(categories) <= MAX_ENUM_VALUES:
            value_type = Literal[tuple(categories)]
        else:
            value_type = Annotated[str, Field(max_length=max_string_chars)]
    return Optional[value_type] if feature.nullable else value_type  # noqa: UP045


def record_model(schema: FeatureSchema, suite: dict | None = None, max_string_chars: int = 1000):
    """Return a pydantic model of one record: every feature by name, type and nullability,
    with the suite's numeric bounds and categories."""
    rules = documented_rules(suite)
    fields = {
        f"feature_{index}": (
            _field_type(feature, rules.get(feature.name, {}), max_string_chars),
            Field(..., alias=feature.name, description=f"{feature.kind} feature"),
        )
        for index, feature in enumerate(schema.features)
    }
    return create_model(
        "Record", __config__=ConfigDict(extra="forbid", populate_by_name=True), **fields
    )


def predict_input_spec(
    schema: FeatureSchema, limits: Limits, suite: dict | None = None
) -> type[IODescriptor]:
    """Return the /predict input spec: documented by pydantic, handed on as the raw body.

    BentoML would validate with pydantic and answer failures with its own error body and a
    traceback in the log; the runtime's parser keeps one error shape and one log line per bad
    request.
    """
    documented = create_model(
        "PredictRequest",
        __base__=IODescriptor,
        records=(
            list[record_model(schema, suite, limits.max_string_chars)],
            Field(..., min_length=1, max_length=limits.max_batch_rows),
        ),
    )

    class PredictRequest(documented):
        @classmethod
        async def from_http_request(cls, request, serde):
            return cls.model_construct(records=await request.body())

    return PredictRequest


def csv_input_spec(limits: Limits) -> type[IODescriptor]:
    """Return the /predict_csv input spec: a multipart `file` field, or a text/csv body, handed
    on as bytes (or the 400 for a malformed upload) for the same reason as /predict."""
    documented = create_model(
        "PredictCsvRequest",
        __base__=IODescriptor,
        file=(Annotated[Path, ContentType("text/csv")], Field(..., description="a CSV file")),
    )

    class PredictCsvRequest(documented):
        @classmethod
        async def from_http_request(cls, request, serde):
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                return cls.model_construct(file=await _multipart_csv(request, limits))
            return cls.model_construct(file=await request.body())

    return PredictCsvRequest


async def _multipart_csv(request, limits: Limits) -> bytes | Rejection:
    """Return the bytes of the multipart field `file`, or the 400 for a malformed upload."""
    try:
        form = await request.form(max_files=1, max_fields=limits.max_fields)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return Rejection(
                400, "invalid_body", 'send the CSV as a multipart file field named "file"'
            )
        return await upload.read()
    except Exception as error:  # noqa: BLE001 - any parse error here is the client's upload
        # starlette raises MultiPartException, KeyError, ValueError... for a bad boundary.
        return Rejection(
            400,
            "malformed_multipart",
            "the body is not readable multipart/form-data "
            f'({type(error).__name__}); send the CSV as a file field named "file"',
        )


def metadata_input_spec() -> type[IODescriptor]:
    """Return an input spec that reads no body: /metadata takes nothing, whatever is sent.

    BentoML's default parses the body by its Content-Type, and a multipart type without a
    boundary made it raise a 500 on an endpoint that needs no input at all.
    """

    class MetadataRequest(create_model("MetadataRequest", __base__=IODescriptor)):
        @classmethod
        async def from_http_request(cls, request, serde):
            return cls.model_construct()

    return MetadataRequest


def feedback_input_spec(classes: list, limits: Limits) -> type[IODescriptor]:
    """Return the /feedback input spec: one {"request_id", "label", "row"} object or a list."""
    if not classes:
        label, described = float, "the true value"
    else:
        label = int if all(isinstance(c, int) for c in classes) else str
        described = f"the true class: {', '.join(map(str, classes))}"
    item = create_model(
        "Feedback",
        request_id=(str, Field(..., description="the X-Request-ID the prediction came with")),
        label=(label, Field(..., description=described)),
        row=(int, Field(0, ge=0, description="the record's index in its request")),
    )
    documented = create_model(
        "FeedbackRequest",
        __base__=IODescriptor,
        feedback=(item | list[item], Field(..., description="one label, or a list of them")),
    )

    class FeedbackRequest(documented):
        @classmethod
        async def from_http_request(cls, request, serde):
            parsed = parse_feedback(
                await request.body(), classes, limits.max_batch_rows, limits.max_echo_chars
            )
            return cls.model_construct(feedback=parsed)

    return FeedbackRequest


def predict_output_spec(schema: FeatureSchema) -> type[IODescriptor]:
    if schema.is_regression:
        return create_model(
            "PredictResponse",
            __base__=IODescriptor,
            model=(str, Field(..., description="the model version that answered, name:version")),
            predictions=(list[float], Field(..., description=f"the predicted {schema.target}")),
        )
    label = int if schema.label_kind == "integer" else str
    return create_model(
        "PredictResponse",
        __base__=IODescriptor,
        model=(str, Field(..., description="the model version that answered, name:version")),
        predictions=(list[label], ...),
        probabilities=(
            list[dict[str, float]],
            Field(..., description="class label to probability"),
        ),
    )
