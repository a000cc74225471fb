"""The fast store's database errors: each driver's error becomes the store's, named, with the driver's as its cause."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from pixmux.proxy.store.fast import Duplicate, _DriverErrors


@pytest.mark.parametrize(
    ("error", "duplicates", "expected", "words"),
    [
        (sqlite3.OperationalError("database is locked"), False, ConnectionError, "SQLite: database is locked"),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), False, ConnectionError, "SQLite: UNIQUE"),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), True, Duplicate, "UNIQUE constraint failed"),
        (asyncpg.UniqueViolationError("duplicate key"), True, Duplicate, "duplicate key"),
        (asyncpg.UniqueViolationError("duplicate key"), False, ConnectionError, "PostgreSQL: UniqueViolationError"),
        (asyncpg.ConnectionDoesNotExistError("gone"), True, ConnectionError, "PostgreSQL: ConnectionDoesNotExistError"),
    ],
)
def test_driver_errors_become_the_stores(
    error: Exception, duplicates: bool, expected: type[Exception], words: str
) -> None:
    with pytest.raises(expected, match=words) as caught, _DriverErrors(duplicates=duplicates):
        raise error

    assert caught.value.__cause__ is error


def test_other_errors_pass_as_they_are() -> None:
    with pytest.raises(KeyError), _DriverErrors(duplicates=True):
        raise KeyError("token")
