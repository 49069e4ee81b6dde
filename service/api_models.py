"""The request and response models BentoML shows in /docs, built from the stored feature schema."""

from pathlib import Path
from typing import Annotated, Literal, Optional

from _bentoml_sdk.io_models import IODescriptor
from bentoml.validators import ContentType
from pydantic import ConfigDict, Field, create_model

from service.request_body import RecordParser, csv_frame
from service.schema import Feature, FeatureSchema
from service.validation.results import Rejection

# An enum longer than this helps nobody in Swagger UI; the suite still checks the set.
MAX_ENUM_VALUES = 50


def _field_type(feature: Feature):
    if feature.kind == "numeric":
        value_type = float
    elif feature.categories and len(feature.categories) <= MAX_ENUM_VALUES:
        value_type = Literal[tuple(feature.categories)]
    else:
        value_type = str
    return Optional[value_type] if feature.nullable else value_type  # noqa: UP045


def record_model(schema: FeatureSchema):
    """Return a pydantic model of one record: every feature by name, type and nullability."""
    fields = {
        f"feature_{index}": (
            _field_type(feature),
            Field(..., alias=feature.name, description=f"{feature.kind} feature"),
        )
        for index, feature in enumerate(schema.features)
    }
    return create_model(
        "Record", __config__=ConfigDict(extra="forbid", populate_by_name=True), **fields
    )


def predict_input_spec(schema: FeatureSchema, parser: RecordParser) -> type[IODescriptor]:
    """Return the /predict input spec: documented by pydantic, parsed by `parser`.

    BentoML would validate with pydantic and answer failures with its own error body and a
    traceback in the log; parsing here keeps one error shape and one log line per bad request.
    """
    documented = create_model(
        "PredictRequest",
        __base__=IODescriptor,
        records=(list[record_model(schema)], Field(..., min_length=1)),
    )

    class PredictRequest(documented):
        @classmethod
        async def from_http_request(cls, request, serde):
            return cls.model_construct(records=parser.parse(await request.body()))

    return PredictRequest


def csv_input_spec(schema: FeatureSchema, max_rows: int) -> type[IODescriptor]:
    """Return the /predict_csv input spec: a multipart `file` field, or a text/csv body.

    Parsed here for the same reason as /predict: one error shape, whatever the upload.
    """
    documented = create_model(
        "PredictCsvRequest",
        __base__=IODescriptor,
        file=(Annotated[Path, ContentType("text/csv")], Field(..., description="a CSV file")),
    )

    class PredictCsvRequest(documented):
        @classmethod
        async def from_http_request(cls, request, serde):
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("multipart/form-data"):
                form = await request.form()
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    parsed = Rejection(
                        400, "invalid_body", 'send the CSV as a multipart file field named "file"'
                    )
                else:
                    parsed = csv_frame(await upload.read(), schema, max_rows)
            else:
                parsed = csv_frame(await request.body(), schema, max_rows)
            return cls.model_construct(file=parsed)

    return PredictCsvRequest


def predict_output_spec(schema: FeatureSchema) -> type[IODescriptor]:
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
