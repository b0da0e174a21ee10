"""`bulk_insert()`: Django's bulk_create as one `INSERT ... SELECT FROM unnest(...)`.

bulk_create compiles one placeholder per value (a 500-row batch of memories: ~12,500), and
psycopg then splits and quotes that text client-side: about 0.5 ms of Python per row on the
memory write path (bench/memories, cProfile). Here the statement has one array parameter per
column, whatever the number of rows, each column's values written as one array literal by a
plain function chosen once per field (psycopg then quotes one text per column). Same rows,
same defaults (the instances carry them), ids set on the instances from RETURNING, as
bulk_create sets them. No signals (bulk_create sends none either).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection, models
from pgvector.django import VectorField

Element = Callable[[Any], str]


def _quoted(text: str) -> str:
    """An element of a PostgreSQL array literal, quoted: only `"` and `\\` are escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text_element(value: Any) -> str:
    return "NULL" if value is None else _quoted(str(value))  # TextChoices as plain text


def int_element(value: Any) -> str:
    return "NULL" if value is None else str(int(value))


def _float_element(value: Any) -> str:
    if value is None:
        return "NULL"
    number = float(value)
    if math.isfinite(number):
        return repr(number)  # the shortest text that reads back as the same double
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def _other_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    # Datetimes (with their offset; a naive one is read in the session's time zone, as
    # psycopg sends it), dates, decimals, uuids: their str() is PostgreSQL's input text.
    return _quoted(str(value))


def _json_element(encoder: Any) -> Element:
    def dump(value: Any) -> str:
        return "NULL" if value is None else _quoted(json.dumps(value, cls=encoder))

    return dump


def json_element(value: Any) -> str:
    return "NULL" if value is None else _quoted(json.dumps(value))


def _text_array_element(value: Any) -> str:
    return "NULL" if value is None else _quoted(json.dumps([str(v) for v in value]))


def array_literal(values: Sequence[Any], element: Element) -> str:
    """An array parameter as one text (`'{...}'::<type>[]` in the statement). psycopg's list
    adapter dumps and escapes every element in Python (a regex substitution per string):
    ~0.1 ms per row of a 500-row batch's columns, where this joins plain strings and psycopg
    quotes one text."""
    return "{" + ",".join([element(value) for value in values]) + "}"


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; %.9g keeps every float32 digit and formats ~3x faster than
    repr (0.06 s instead of 0.16 s for 500 x 256 numbers)."""
    return "[" + ",".join(["%.9g"] * len(vector)) % tuple(vector) + "]"


def _vector_element(vector: Sequence[float] | None) -> str:
    return "NULL" if vector is None else f'"{vector_literal(vector)}"'  # needs no escaping


def vector_array_literal(vectors: Sequence[Sequence[float] | None]) -> str:
    """A `vector[]` parameter as one text: psycopg's list adapter escapes each element in
    Python (~0.2 ms per 256-d vector); a vector's text needs no escaping, only quotes."""
    return array_literal(vectors, _vector_element)


def vector_array_literal_of(texts: Sequence[str]) -> str:
    """vector_array_literal of vectors already written by vector_literal."""
    return "{" + ",".join([f'"{text}"' for text in texts]) + "}"


def _column(field: models.Field[Any, Any]) -> tuple[str, str, str, Element]:
    """(the column, the unnest parameter with its cast, what the SELECT makes of the unnested
    value `{}`, how one value is written in the column's array literal)."""
    quoted = connection.ops.quote_name(str(field.column))
    db_type = field.db_type(connection)
    if isinstance(field, VectorField):
        return quoted, "%s::vector[]", "{}", _vector_element
    if isinstance(field, models.JSONField):
        return quoted, "%s::jsonb[]", "{}", _json_element(field.encoder)
    if isinstance(field, ArrayField):
        # unnest flattens a 2-D array, and rows' arrays differ in length: each row's array
        # travels as a JSON list and is made the column's array type again in the SELECT.
        if not isinstance(field.base_field, models.CharField | models.TextField):
            raise TypeError(f"bulk_insert takes arrays of text only, not {field}")
        rebuilt = (
            f"CASE WHEN {{0}} IS NULL THEN NULL "
            f"ELSE ARRAY(SELECT jsonb_array_elements_text({{0}}))::{db_type} END"
        )
        return quoted, "%s::jsonb[]", rebuilt, _text_array_element
    param = f"%s::{db_type}[]"
    if isinstance(field, models.CharField | models.TextField):
        return quoted, param, "{}", text_element
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, models.IntegerField) and not isinstance(target, models.BooleanField):
        return quoted, param, "{}", int_element
    if isinstance(field, models.FloatField):
        return quoted, param, "{}", _float_element
    return quoted, param, "{}", _other_element


@cache
def _statement(model: type[models.Model], with_pk: bool) -> tuple[str, list[tuple[str, Element]]]:
    """The INSERT for the model's columns (the id too, or RETURNING it) and, per column, the
    attribute to read and its conversion."""
    meta = model._meta
    columns: list[str] = []
    params: list[str] = []
    selects: list[str] = []
    values: list[tuple[str, Element]] = []
    for field in meta.concrete_fields:
        if isinstance(field, models.GeneratedField) or (field.primary_key and not with_pk):
            continue
        column, param, select, element = _column(field)
        columns.append(column)
        params.append(param)
        selects.append(select.format(f"c{len(selects)}"))
        values.append((field.attname, element))
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(selects)} FROM unnest({', '.join(params)}) AS u({aliases})"
    )
    if not with_pk:
        assert meta.pk is not None  # noqa: S101 - every model has one
        sql += f" RETURNING {connection.ops.quote_name(str(meta.pk.column))}"
    return sql, values


def bulk_insert(
    objs: Sequence[models.Model],
    *,
    first: Sequence[tuple[str, Sequence[Any]]] = (),
    literals: Mapping[str, str] | None = None,
) -> None:
    """Insert new instances of one model in one statement and set their ids. Instances whose
    id is already set (all or none of them) are inserted with it. `first`: data-modifying
    statements (sql, params) run by the same statement, as WITH queries (a round trip each
    fewer), e.g. the audit chain heads' UPDATE. `literals`: a column's array literal already
    made by the caller (attname -> text, the objs' values in order), e.g. vectors whose text
    the caller sent once already."""
    if not objs:
        if first:
            raise ValueError("bulk_insert: statements to run first, but no rows")
        return
    with_pk = objs[0].pk is not None
    sql, values = _statement(type(objs[0]), with_pk)
    _related_ids(objs)
    made = literals or {}
    params: list[Any] = [
        made.get(name) or array_literal([getattr(obj, name) for obj in objs], element)
        for name, element in values
    ]
    if first:
        ctes = ", ".join(f"first{n} AS ({query})" for n, (query, _) in enumerate(first))
        sql = f"WITH {ctes} {sql}"
        params = [value for _, values in first for value in values] + params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not with_pk:
            for obj, (new_id,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = new_id
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def _related_ids(objs: Sequence[models.Model]) -> None:
    """A foreign key set to an instance saved after it was assigned (a version's item, inserted
    just before) takes that instance's id, as bulk_create does before it inserts."""
    for field in objs[0]._meta.concrete_fields:
        if not field.is_relation:
            continue
        for obj in objs:
            if getattr(obj, field.attname) is None:
                related = obj._state.fields_cache.get(field.name)
                if related is not None:
                    if related.pk is None:
                        raise ValueError(f"bulk_insert: {field.name} is not saved yet")
                    setattr(obj, field.attname, related.pk)
