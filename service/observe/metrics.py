"""The service's own Prometheus metrics, made inside each worker on first use.

BentoML points PROMETHEUS_MULTIPROC_DIR at a fresh folder for its workers and builds /metrics
from that folder alone, so a metric created before the worker is set up is silently missing
(the folder is $BENTOML_HOME/prometheus_multiproc_dir, wiped at every start; BentoML 1.4.40).
Making them on first use, in the worker, avoids that whatever imports this module.
Every label takes values from a bounded set: routes, error codes, the suite's expectations and
the model's columns, classes and bins; never a client's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "model_service"
ROW_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000)
DIFFERENCE_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1)
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


@dataclass(frozen=True)
class ServiceMetrics:
    auth_failures: Counter
    rejections: Counter
    failed_expectations: Counter
    predictions: Counter
    request_rows: Histogram
    stage_seconds: Histogram
    model_info: Gauge
    drift_rows: Counter
    drift_reference_share: Gauge
    prediction_bin_rows: Counter
    prediction_reference_share: Gauge
    prediction_log_records: Counter
    feedback: Counter
    live_labelled: Counter
    live_correct: Counter
    heldout_accuracy: Gauge
    expected_true_positives: Counter
    expected_actual: Counter
    live_error_rows: Counter
    live_absolute_error: Counter
    live_squared_error: Counter
    heldout_rmse: Gauge
    heldout_mae: Gauge
    shadow_requests: Counter
    shadow_agreement: Counter
    shadow_probability_difference: Histogram
    shadow_seconds: Histogram


@cache
def service_metrics() -> ServiceMetrics:
    """Return the metrics of this worker, created on the first call."""
    return ServiceMetrics(
        auth_failures=Counter(
            f"{PREFIX}_auth_failures",
            "Requests refused for a missing or wrong API key, by reason",
            ["reason"],
        ),
        rejections=Counter(
            f"{PREFIX}_rejected_requests",
            "Requests answered with a 4xx error body, by model, error and endpoint",
            ["model", "error", "endpoint"],
        ),
        failed_expectations=Counter(
            f"{PREFIX}_failed_expectations",
            "Failed expectations in rejected requests, by model, expectation type and column",
            ["model", "expectation", "column"],
        ),
        predictions=Counter(
            f"{PREFIX}_predictions",
            "Rows predicted, by model and predicted class",
            ["model", "class"],
        ),
        request_rows=Histogram(
            f"{PREFIX}_request_rows",
            "Rows per scored request, by model",
            ["model"],
            buckets=ROW_BUCKETS,
        ),
        stage_seconds=Histogram(
            f"{PREFIX}_stage_seconds",
            "Time spent per request in each stage (parse, validate, predict), by model",
            ["model", "stage"],
            buckets=STAGE_BUCKETS,
        ),
        model_info=Gauge(
            f"{PREFIX}_model_info",
            "The model version being served (1), by tag, name and version",
            ["model", "name", "version"],
            multiprocess_mode="max",
        ),
        drift_rows=Counter(
            f"{PREFIX}_drift_rows",
            "Validated rows counted into each feature's reference bins, by model",
            ["model", "feature", "bin"],
        ),
        drift_reference_share=Gauge(
            f"{PREFIX}_drift_reference_share",
            "Share of the training rows in each bin of each feature, by model",
            ["model", "feature", "bin"],
            multiprocess_mode="max",
        ),
        prediction_bin_rows=Counter(
            f"{PREFIX}_prediction_bin_rows",
            "Rows answered, by model and bin of the answer: the predicted class, or the "
            "quantile bin of a regressor's value on its held-out predictions",
            ["model", "bin"],
        ),
        prediction_reference_share=Gauge(
            f"{PREFIX}_prediction_reference_share",
            "Share of the held-out rows' predictions in each bin of the answer, by model",
            ["model", "bin"],
            multiprocess_mode="max",
        ),
        prediction_log_records=Counter(
            f"{PREFIX}_prediction_log_records",
            "Records given to the prediction log, by result: written, dropped (queue full) "
            "or failed (the disk refused them)",
            ["result"],
        ),
        feedback=Counter(
            f"{PREFIX}_feedback",
            "Ground truth labels received, by whether this worker still held the prediction "
            "(matched) or not (unmatched: join it offline from the prediction log)",
            ["match"],
        ),
        live_labelled=Counter(
            f"{PREFIX}_live_labelled",
            "Predictions whose true label arrived while held, by model and true class",
            ["model", "class"],
        ),
        live_correct=Counter(
            f"{PREFIX}_live_correct",
            "Held predictions whose true label arrived and matched, by model and true class",
            ["model", "class"],
        ),
        heldout_accuracy=Gauge(
            f"{PREFIX}_heldout_accuracy",
            "Accuracy of the served model on its held-out split at training time",
            ["model"],
            multiprocess_mode="max",
        ),
        expected_true_positives=Counter(
            f"{PREFIX}_expected_true_positives",
            "Label-free performance estimate (CBPE): over the rows predicted as each class, the "
            "sum of that class's calibrated probability, by model and predicted class",
            ["model", "class"],
        ),
        expected_actual=Counter(
            f"{PREFIX}_expected_actual",
            "Label-free performance estimate (CBPE): over all rows answered, the sum of each "
            "class's calibrated probability (the rows expected to be of it), by model and class",
            ["model", "class"],
        ),
        live_error_rows=Counter(
            f"{PREFIX}_live_error_rows",
            "A regressor's held predictions whose true value arrived, by model",
            ["model"],
        ),
        live_absolute_error=Counter(
            f"{PREFIX}_live_absolute_error",
            "Sum of |true - predicted| over those rows, by model",
            ["model"],
        ),
        live_squared_error=Counter(
            f"{PREFIX}_live_squared_error",
            "Sum of (true - predicted)^2 over those rows, by model",
            ["model"],
        ),
        heldout_rmse=Gauge(
            f"{PREFIX}_heldout_rmse",
            "RMSE of the served regressor on its held-out split at training time",
            ["model"],
            multiprocess_mode="max",
        ),
        heldout_mae=Gauge(
            f"{PREFIX}_heldout_mae",
            "MAE of the served regressor on its held-out split at training time",
            ["model"],
            multiprocess_mode="max",
        ),
        shadow_requests=Counter(
            f"{PREFIX}_shadow_requests",
            "Requests given to the shadow candidate, by result: scored, dropped (queue full), "
            "failed (it raised) or rejected (its suite refused rows the main model took)",
            ["candidate", "result"],
        ),
        shadow_agreement=Counter(
            f"{PREFIX}_shadow_agreement",
            "Rows the shadow candidate scored, by whether its label agrees with the main model",
            ["candidate", "agree"],
        ),
        shadow_probability_difference=Histogram(
            f"{PREFIX}_shadow_probability_difference",
            "Per row, the largest difference between the candidate's and the main model's "
            "class probabilities",
            ["candidate"],
            buckets=DIFFERENCE_BUCKETS,
        ),
        shadow_seconds=Histogram(
            f"{PREFIX}_shadow_seconds",
            "Time the shadow candidate took to validate and score one request, sampled: the "
            "first of each drain of its queue, scored alone",
            ["candidate"],
            buckets=STAGE_BUCKETS,
        ),
    )
