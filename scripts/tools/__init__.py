"""Developer tools apart from the product: benchmarks, release helpers, the test harness."""
