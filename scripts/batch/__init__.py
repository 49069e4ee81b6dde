"""Batch scoring of a file with a model version, locally or on Spark."""
