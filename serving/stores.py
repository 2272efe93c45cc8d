"""Open the configured graph store (the one place that maps a store kind to a backend)."""

from __future__ import annotations

from graph.store import GraphStore
from serving.settings import Settings

STORE_KINDS: tuple[str, ...] = ("sqlite", "neo4j")


def open_store(kind: str, settings: Settings) -> GraphStore:
    """Open the store ``kind`` configured by ``settings``; the caller closes it.

    Raises:
        ValueError: if ``kind`` is not one of :data:`STORE_KINDS`.
        graph.store.StoreUnavailableError: if the store cannot be opened.
    """
    if kind == "sqlite":
        from graph.sqlite_store import SQLiteStore

        return SQLiteStore(settings.resolved_sqlite_path)
    if kind == "neo4j":
        from graph.neo4j_store import Neo4jStore

        if settings.neo4j_password is None:
            raise ValueError("neo4j_password must be set (SOCIALREC_NEO4J_PASSWORD), got None")
        return Neo4jStore(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            settings.neo4j_database,
            max_retry_time=settings.neo4j_max_retry_s,
            connection_timeout=settings.neo4j_connection_timeout_s,
        )
    raise ValueError(f"store kind must be one of {', '.join(STORE_KINDS)}, got {kind!r}")
