"""Benchmarks that print figures: the service, batch, the floor, hostile input, make timings."""
