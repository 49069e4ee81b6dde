"""Reading the prediction log (drift, live metrics, the monitoring notebook's run) and /metrics."""
