"""Bulk INSERT for the sync's big tables: SQLAlchemy Core executemany, with bind values processed once where they can.

`insert_rows(conn, table, rows, constants)` sends exactly what `conn.execute(insert(table), rows_with_constants)`
sends: the same INSERT statement for the dialect and the same executemany strategy, each value run through the same
bind processor its column's type has for this dialect. What it saves is SQLAlchemy's per-row, per-value work: a
constant (the run's time, on every row) is processed once, and columns whose type needs no processing for the
dialect (text, integers, ...) are passed on untouched. Where SQLAlchemy would hand the rows to the driver's
executemany as they are (dialects that do not batch plain INSERTs into multi-row VALUES, e.g. SQLite), the rows go
to the driver directly as parameter tuples, skipping the per-row parameter assembly too, a statement of up to
ROWS_VARIABLES values at a time (`INSERT ... VALUES (...), (...), ...`, the compiled single-row statement's values
repeated): sqlite3's executemany takes and gives back the GIL around every row, and while the sync's other thread
parses (ingest/pipeline.py) each give-back waits for Python's switch interval: 5,000 rows of 30 KB took 17-20 s
against a busy thread, 0.8 s as 50-row statements (0.2-0.3 s both, alone). Dialects that batch themselves keep
SQLAlchemy's own path; named and numbered parameter styles (psycopg's pyformat) go to the driver's executemany
as dicts. Portable: nothing here names a dialect.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Dialect, MetaData, Table, TypeDecorator, insert
from sqlalchemy.types import NullType, TypeEngine

# Bound values in one multi-row INSERT: under 999, the smallest limit SQLite builds have had (32,766 since 3.32).
ROWS_VARIABLES = 990


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
        compiled = _compiled(table, tuple(rows[0]), dialect)
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        if sorted(names) == sorted(rows[0]):  # bind names are the column keys (always, for plain names)
            if compiled.positional:
                values = operator.itemgetter(*names)
                params = [values(row) for row in rows] if len(names) > 1 else [(values(row),) for row in rows]
                repeatable = dialect.paramstyle in ("qmark", "format")  # not numbered: the group can be repeated
                if repeatable and (head := _values_head(compiled.string)) is not None:
                    _insert_many_rows(conn, *head, params)
                else:
                    conn.exec_driver_sql(compiled.string, params)
            else:
                conn.exec_driver_sql(compiled.string, list(rows))
            return
    # Not from or into the compiled cache: the twin's statement must never stand in for the real table's.
    conn.execute(statement, rows, execution_options={"compiled_cache": None})


@functools.lru_cache(maxsize=64)
def _compiled(table: Table, keys: tuple[str, ...], dialect: Dialect) -> Any:
    """The twin of `table`'s INSERT of the columns `keys`, compiled for `dialect` once (a sync makes hundreds of
    the same few statements)."""
    return insert(_unprocessed_twin(table)).compile(dialect=dialect, column_keys=list(keys))


def _values_head(single: str) -> tuple[str, str] | None:
    """("INSERT INTO t (a, b) VALUES ", "(?, ?)") of a compiled single-row INSERT; None for any other shape."""
    head, marker, group = single.rpartition(" VALUES ")
    if not marker or not group.startswith("(") or not group.endswith(")") or "(" in group[1:]:
        return None
    return head + marker, group


def _insert_many_rows(conn: Connection, head: str, group: str, params: list[tuple[Any, ...]]) -> None:
    """INSERT the parameter tuples `params` as multi-row statements of up to ROWS_VARIABLES bound values each."""
    per_statement = max(1, ROWS_VARIABLES // max(1, len(params[0])))
    full = head + ", ".join([group] * per_statement)
    for start in range(0, len(params), per_statement):
        batch = params[start:start + per_statement]
        statement = full if len(batch) == per_statement else head + ", ".join([group] * len(batch))
        conn.exec_driver_sql(statement, tuple(value for row in batch for value in row))
