"""What tests and benchmarks share: starting bentoml and Prometheus, reading /metrics, PromQL."""
