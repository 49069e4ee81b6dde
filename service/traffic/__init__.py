"""Candidate traffic: a second model version beside the main one, in shadow or on a split."""
