"""stagedb's holdings as SQL tables: a directory table per stage, the ``stages`` table,
and SELECTs over them run by DuckDB on Arrow data."""
