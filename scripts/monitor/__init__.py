"""Reading the prediction log: drift, live metrics, and the monitoring notebook's run."""
