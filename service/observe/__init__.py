"""What the service tells operations: metrics, drift, the prediction log, live accuracy."""
