"""Per-bed pipeline: newest frame -> face detect -> crop -> shared engine -> aggregation -> message -> clients."""
