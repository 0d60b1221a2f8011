"""The hub's own database on a real PostgreSQL server (``hub.db_url``): users,
tokens and running servers are kept there and survive a hub restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.hubproc import HubProcess, module_hub
from tests.integration.pg import PostgresServer, postgres_server  # noqa: F401
from tests.kernel import run_code

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_hub(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    postgres_server: PostgresServer,  # noqa: F811
) -> Iterator[tuple[HubProcess, str]]:
    url = postgres_server.new_database("hub")
    with module_hub(tmp_path, request.session, {"hub": {"db_url": url}}) as hub:
        yield hub, url


def _hub_users(url: str) -> set[str]:
    """User names in the hub's tables, read with PostgreSQL's own client library."""
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM users")
        return {row[0] for row in cur.fetchall()}


def test_users_and_servers_live_in_postgresql_across_a_restart(
    pg_hub: tuple[HubProcess, str],
) -> None:
    hub, url = pg_hub
    token = hub.create_user("pg-learner")
    hub.spawn("pg-learner")
    assert asyncio.run(run_code(hub, "pg-learner", token, "6 * 7")) == "42"
    assert "pg-learner" in _hub_users(url)
    assert not (hub.state_dir / "jupyterhub.sqlite").exists(), "no SQLite hub database"

    hub.restart()
    model = hub.api("GET", "/users/pg-learner")
    assert model["servers"][""]["ready"], "the running server was found again"
    # the learner's token came back from PostgreSQL too
    assert asyncio.run(run_code(hub, "pg-learner", token, "6 * 7")) == "42"
