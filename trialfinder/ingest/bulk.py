"""Bulk INSERT for the sync's big tables: SQLAlchemy Core executemany, with bind values processed once where they can.

`insert_rows(conn, table, rows, constants)` sends exactly what `conn.execute(insert(table), rows_with_constants)`
sends: the same INSERT statement for the dialect and the same executemany strategy, each value run through the same
bind processor its column's type has for this dialect. What it saves is SQLAlchemy's per-row, per-value work: a
constant (the run's time, on every row) is processed once, and columns whose type needs no processing for the
dialect (text, integers, ...) are passed on untouched. Where SQLAlchemy would hand the rows to the driver's
executemany as they are (dialects that do not batch plain INSERTs into multi-row VALUES, e.g. SQLite), the compiled
statement goes to the driver directly with the rows as parameter tuples or dicts, skipping the per-row parameter
assembly too; dialects that batch (e.g. psycopg2's "insertmanyvalues") keep SQLAlchemy's own path. Portable:
nothing here names a dialect.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Dialect, MetaData, Table, TypeDecorator, insert
from sqlalchemy.types import NullType, TypeEngine


class _AlreadyProcessed(TypeDecorator[Any]):
    """A column type that renders like `original` (bind casts included) but leaves bind values as they come: the
    caller has already run them through `original`'s bind processor."""

    impl = NullType
    cache_ok = True

    def __init__(self, original: TypeEngine[Any]) -> None:
        super().__init__()
        self.original = original
        self.impl = original  # type: ignore[assignment]  # TypeDecorator keeps its implementation instance here

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return self.original.dialect_impl(dialect)

    def bind_processor(self, dialect: Dialect) -> None:
        return None


@functools.cache
def _unprocessed_twin(table: Table) -> Table:
    """`table` again (same name and columns, so the same SQL) with every column typed _AlreadyProcessed."""
    columns: list[Column[Any]] = [
        Column(c.name, _AlreadyProcessed(c.type), key=c.key, primary_key=c.primary_key) for c in table.c
    ]
    return Table(table.name, MetaData(), *columns, schema=table.schema)


def bind_processors(table: Table, dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    """The bind processor of each column of `table` that has one for `dialect`, by column key."""
    processors: dict[str, Callable[[Any], Any]] = {}
    for column in table.c:
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[column.key] = processor
    return processors


def insert_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], constants: Mapping[str, Any] | None = None
) -> None:
    """INSERT `rows` (dicts by column key, all with the same keys), each with `constants` added, in one executemany.

    The dicts in `rows` are updated in place with the processed values.
    """
    if not rows:
        return
    given = set(rows[0]) | set(constants or {})
    if any(c.default is not None and c.key not in given for c in table.c):
        # The twin table has no Python-side defaults: let Core fill them in (and process everything itself).
        conn.execute(insert(table), [{**row, **(constants or {})} for row in rows])
        return
    processors = bind_processors(table, conn.dialect)
    fixed = {key: processors[key](value) if key in processors else value for key, value in (constants or {}).items()}
    varying = [(key, processors[key]) for key in rows[0] if key in processors and key not in fixed]
    for row in rows:
        for key, processor in varying:
            row[key] = processor(row[key])
        row.update(fixed)
    statement = insert(_unprocessed_twin(table))
    dialect = conn.dialect
    if not (dialect.use_insertmanyvalues and dialect.use_insertmanyvalues_wo_returning):
        compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        if sorted(names) == sorted(rows[0]):  # bind names are the column keys (always, for plain names)
            if compiled.positional:
                values = operator.itemgetter(*names)
                params = [values(row) for row in rows] if len(names) > 1 else [(values(row),) for row in rows]
                conn.exec_driver_sql(compiled.string, params)
            else:
                conn.exec_driver_sql(compiled.string, list(rows))
            return
    # Not from or into the compiled cache: the twin's statement must never stand in for the real table's.
    conn.execute(statement, rows, execution_options={"compiled_cache": None})
