"""The benchmark's floor: a BentoML endpoint that takes the /predict payload and returns a constant.

Same BentoML, same worker settings and the same environment as the model service, so the
ratios in the benchmark measure only what validation and prediction add.
"""

from typing import Any

import bentoml

# The same fix the model service runs with, so the two differ only in what the endpoint does.
import service.http.bentoml_fixes  # noqa: F401

CONSTANT = {"model": "constant", "predictions": ["setosa"], "probabilities": [{"setosa": 1.0}]}


@bentoml.service(name="constant_baseline", workers=1, traffic={"timeout": 60})
class ConstantService:
    @bentoml.api
    async def predict(self, records: list[dict[str, Any]]) -> dict:
        return CONSTANT
