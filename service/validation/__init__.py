"""Checking model inputs against the expectation suite at serving speed, with GX's verdict.

Great Expectations is the source of truth for what valid input is, but its engine costs tens of
milliseconds per call and seconds to import. `CompiledSuite` turns the suite's common expectation
types into precomputed sets, bounds and numpy operations once, then evaluates a request frame in
microseconds. The parity tests check, expectation by expectation, that it reaches the same
verdict and the same unexpected rows as GX 1.x on pandas. Expectation types it does not compile,
and columns of dtypes it does not know (datetime, categorical, nullable extension dtypes), are
handed to GX itself (`service.validation.gx_engine`, imported only when that happens).

GX semantics mirrored here (great_expectations/expectations/expectation.py and the metrics):

- Column map expectations drop null rows (`Series.notnull()`: None, NaN, NA, NaT) before the
  check. `mostly` compares `(nonnull - unexpected) / nonnull >= mostly`; an empty frame or a
  column with no non-null value passes. `not_be_null` and `be_null` count over all rows instead:
  `(rows - unexpected) / rows >= mostly`.
- A column expectation on a column the frame lacks fails (GX raises inside the metric and
  reports `success: False` with the exception); no rows are named. Every other expectation is
  still evaluated: GX reports all failed expectations in one result, and so do we, so one
  answer names a missing column and a bad value in another.
- `between` compares int64/float64 columns with vectorised operators; any other column value by
  value, and a string value against numeric bounds raises `TypeError` in GX, which fails the
  expectation as a whole with no rows named. `min_value > max_value` fails the same way.
- `of_type` and `in_type_list` check the column's dtype as a whole (no rows, `mostly` ignored),
  except on `object` columns, which are checked value by value with `isinstance`.
"""
