"""Fixtures of the database tests: each test works in a PostgreSQL schema of its own (via
search_path), so it neither sees nor disturbs the tables of a running pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg2
import psycopg2.extensions
import pytest
from pipeline import db

from tests.integration.support import MemoryS3


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {name}")
    yield name
    with admin.cursor() as cur:
        cur.execute(f"DROP SCHEMA {name} CASCADE")
    admin.close()


@pytest.fixture
def connect(postgres_dsn: str, schema: str) -> Iterator[Callable[[], psycopg2.extensions.connection]]:
    """Opens bootstrapped connections whose tables live in the test's schema."""
    opened = []

    def open_connection():
        conn = psycopg2.connect(postgres_dsn, options=f"-c search_path={schema}")
        opened.append(conn)
        return db.bootstrap(conn)

    yield open_connection
    for conn in opened:
        db.close_quietly(conn)


@pytest.fixture
def conn(connect):
    return connect()


@pytest.fixture
def s3() -> MemoryS3:
    return MemoryS3()
