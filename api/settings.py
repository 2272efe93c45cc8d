"""Settings for the service and the CLI, from environment variables prefixed ``SOCIALREC_``.

Override order (later wins): defaults below < ``.env`` file < environment variables < explicit
CLI options. Library code (graph/, gnn/) never reads settings: entry points pass values in.
Secrets have no default and are never logged.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All runtime configuration. Each field maps to ``SOCIALREC_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SOCIALREC_", env_file=".env", extra="ignore")

    # Where the pipeline keeps its files.
    work_dir: Path = Field(Path("runs/demo"), description="Base directory of a pipeline run.")
    sqlite_path: Path | None = Field(
        None, description="Embedded store file; default <work_dir>/graph.sqlite3."
    )
    snapshot_dir: Path | None = Field(None, description="Default <work_dir>/snapshot.")
    checkpoint_path: Path | None = Field(None, description="Default <work_dir>/model.pt.")

    # Graph store.
    store: Literal["sqlite", "neo4j"] = "sqlite"
    batch_size: int = Field(5_000, ge=1, le=1_000_000, description="Rows per write batch.")
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str = "neo4j"

    # Serving.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = None
    max_k: int = Field(100, ge=1, le=1000)
    serving_threads: int = Field(1, ge=1, description="torch/BLAS threads inside the server.")
    max_body_bytes: int = Field(
        1_048_576, ge=1, description="Largest request body accepted; larger ones get 413."
    )

    def with_overrides(self, **values: object) -> Settings:
        """A validated copy with the given fields replaced; ``None`` values are ignored
        (how CLI options override the environment)."""
        given = {name: value for name, value in values.items() if value is not None}
        return type(self).model_validate(self.model_dump() | given)

    @property
    def resolved_sqlite_path(self) -> Path:
        return self.sqlite_path or self.work_dir / "graph.sqlite3"

    @property
    def resolved_snapshot_dir(self) -> Path:
        return self.snapshot_dir or self.work_dir / "snapshot"

    @property
    def resolved_checkpoint_path(self) -> Path:
        return self.checkpoint_path or self.work_dir / "model.pt"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear it with ``get_settings.cache_clear()``)."""
    return Settings()
