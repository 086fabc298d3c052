"""stagedb's tables in Arrow's terms: column types, schemas, and rows to Arrow.

The one place rows (tuples, as the engine and information_schema make them)
become Arrow tables, and MySQL column types become Arrow types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from stagedb.tables.columns import DIRECTORY_COLUMNS, STAGES_COLUMNS, TableColumn

_ARROW_TYPES = {"bigint unsigned": pa.uint64(), "bigint": pa.int64(), "tinyint(1)": pa.bool_()}


def arrow_type(column: TableColumn) -> pa.DataType:
    """The Arrow type of a column: text is ``string``, the integer types their own."""
    return pa.string() if column.is_text else _ARROW_TYPES[column.column_type]


def arrow_schema(columns: Sequence[TableColumn]) -> pa.Schema:
    """The Arrow schema of a table with ``columns``."""
    return pa.schema([pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in columns])


DIRECTORY_SCHEMA = arrow_schema(DIRECTORY_COLUMNS)
STAGES_SCHEMA = arrow_schema(STAGES_COLUMNS)


def rows_table(schema: pa.Schema | Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """``rows`` (tuples in column order) as an Arrow table, built column by column.

    ``schema`` may be only the column names: each column's type is then
    inferred from its values.
    """
    names = schema.names if isinstance(schema, pa.Schema) else list(schema)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    if isinstance(schema, pa.Schema):
        arrays = [pa.array(list(v), f.type) for v, f in zip(columns, schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays([pa.array(list(values)) for values in columns], names=names)
