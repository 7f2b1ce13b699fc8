"""Tests of the usage pipeline's pure code and use cases (meters, rollup windows, batch rating, queries)."""
