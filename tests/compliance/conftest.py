"""Compliance fixtures: a data subject seeded everywhere memories keep text, and a search of
every text and JSON column of every table for anything that still identifies the subject."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from apps.privacy import keyring, policies
from apps.privacy.engine.keys import ENCRYPTED_TOKEN, decrypt_token
from apps.privacy.keyring import masking_keys

EMAIL = "dana.fox@example.com"
PHONE = "+1 415-555-0132"
PHONE_E164 = "+14155550132"
EXTERNAL_ID = "crm-4711"
OTHER_EMAIL = "bob.stone@example.org"


@pytest.fixture(autouse=True)
def fresh_privacy_caches() -> Iterator[None]:
    policies.clear_cache()
    keyring.masking_keys.cache_clear()
    yield
    policies.clear_cache()
    keyring.masking_keys.cache_clear()


def text_columns() -> list[tuple[str, str]]:
    """(table, column) of every text, varchar, json, jsonb and array column in the schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t
              ON t.table_name = c.table_name AND t.table_schema = c.table_schema
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND (c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY'))
            ORDER BY 1, 2
            """
        )
        return list(cursor.fetchall())


def stored_values(needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, text) of every stored value containing a needle or an <ENC: token."""
    found = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cursor.execute(
                f'SELECT "{column}"::text FROM "{table}" WHERE "{column}"::text ILIKE ANY(%s)',  # noqa: S608
                [[f"%{n}%" for n in [*needles, "<ENC:"]]],
            )
            found.extend((table, column, row[0]) for row in cursor.fetchall())
    return found


def identifying(text: str, needles: list[str], plaintexts: set[str]) -> bool:
    lowered = text.lower()
    if any(n.lower() in lowered for n in needles):
        return True
    for token in ENCRYPTED_TOKEN.finditer(text):
        plain = decrypt_token(token, masking_keys())
        if re.sub(r"[^0-9a-z@.+]", "", plain.lower()) in plaintexts:
            return True
    return False


def leftovers(needles: list[str], plaintexts: set[str]) -> list[tuple[str, str]]:
    return [
        (table, column)
        for table, column, text in stored_values(needles)
        if identifying(text, needles, plaintexts)
    ]


def actor(cast: Any, who: str) -> Any:
    return cast.user(who)
