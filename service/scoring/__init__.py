"""Scoring: feature columns in, the suite's verdict and the predictions out; no HTTP."""
