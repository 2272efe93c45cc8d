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
    reach_dir: Path | None = Field(
        None, description="Reach backtest and calibrated model; default <work_dir>/reach."
    )

    # Graph store.
    store: Literal["sqlite", "neo4j"] = "sqlite"
    batch_size: int = Field(
        100_000,
        ge=1,
        le=1_000_000,
        description="Rows per load batch (validation, and a SQLite write transaction; Neo4j "
        "writes at most 5,000 at once).",
    )
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str = "neo4j"
    neo4j_connection_timeout_s: float = Field(
        5.0, gt=0, description="Seconds to open a Bolt connection before giving up."
    )
    neo4j_max_retry_s: float = Field(
        2.0,
        gt=0,
        description="Seconds the driver keeps retrying a failed transaction (backoff 1, 2, 4 s "
        "...): an API write to a server that just went down answers 503 after ~3 s at 2.",
    )

    # Serving.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = None
    max_k: int = Field(100, ge=1, le=1000)
    serving_threads: int = Field(1, ge=1, description="torch/BLAS threads inside the server.")
    max_body_bytes: int = Field(
        1_048_576, ge=1, description="Largest request body accepted; larger ones get 413."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Server log level; INFO logs one JSON line per request."
    )

    # Social serving (recommendations, feed, events, profiles; see serving/social.py).
    read_requires_key: bool = Field(
        False, description="Read endpoints also need X-API-Key (writes always do)."
    )
    social_boost: float = Field(
        0.1,
        ge=0,
        le=10,
        description="Social-proof boost: score + social_boost * std(scores) * log1p(friends "
        "who interacted). 0 disables it.",
    )
    max_reason_users: int = Field(5, ge=1, le=100, description="Friend ids per reason.")
    candidates: int = Field(
        256,
        ge=0,
        description="Items per user in the candidate stage of recommendations (their best by "
        "model score, kept after their first request; exact, see serving/candidates.py). "
        "0 scores the whole catalogue on every request.",
    )
    candidate_users: int = Field(
        50_000, ge=1, description="Most users whose candidate stage is kept (~1 KB each)."
    )
    feed_author_weight: float = Field(
        0.5, ge=0, description="Feed: score added per unit of author closeness (in z units)."
    )
    feed_cap_impressions: int = Field(
        3, ge=1, description="Feed frequency cap N: shown N times in the window -> capped."
    )
    feed_cap_hours: float = Field(24.0, gt=0, description="Feed frequency cap window T.")
    feed_cap_mode: Literal["demote", "drop"] = "demote"
    feed_authors_require_key: bool = Field(
        True,
        description="POST /feed/rank with an author_id needs X-API-Key (closeness scores tell "
        "whom the user knows); false opens it to anyone who may read.",
    )
    max_events: int = Field(1000, ge=1, description="Most events in one POST /events batch.")
    impressions_path: Path | None = Field(
        None, description="Impression log (SQLite); default <work_dir>/impressions.sqlite3."
    )
    store_retry_after_s: int = Field(
        30, ge=1, description="Retry-After (s) sent with 503 when the store is unavailable."
    )
    sync_interval_s: float = Field(
        2.0,
        ge=0,
        description="Seconds between reads of the store's change log, which bring the live "
        "writes of other API replicas on the same store into this one; 0 turns it off.",
    )

    # Serve log and attribution (docs/online-evaluation.md).
    serve_log: bool = Field(
        True,
        description="Give recommendation and feed answers a serve_id, log the serves and "
        "attribute events to them; false turns all three off.",
    )
    attribution_window_hours: float = Field(
        24.0, ge=0, description="Last touch: an event counts for a serve this recent."
    )
    serve_log_retention_days: float = Field(
        35.0, gt=0, description="Serves and attributions older than this are compacted away."
    )
    serve_log_max_rows: int = Field(
        5_000_000, ge=1, description="Most serves kept; the oldest beyond go at compaction."
    )
    serve_log_flush_s: float = Field(
        0.5, gt=0, description="Seconds between background writes of queued serves."
    )
    serve_log_queue: int = Field(
        10_000, ge=1, description="Most serves queued for writing; more are dropped."
    )

    # Reach and campaign planning (bounds of /api/v1/reach, /campaigns/plan, /influencers).
    max_seeds: int = Field(64, ge=1, le=64, description="Most seeds in one reach request.")
    max_simulations: int = Field(
        10_000, ge=2, le=1_000_000, description="Most Monte-Carlo simulations per request."
    )
    max_candidates: int = Field(
        1000, ge=1, le=100_000, description="Most candidates (or pool size) of a plan."
    )
    max_plan_k: int = Field(100, ge=1, le=1000, description="Most influencers a plan chooses.")
    max_rr_sets: int = Field(
        2_000_000, ge=1_000, description="Cap on reverse-reachable sets of one plan."
    )
    reach_time_limit_s: float = Field(
        30.0, gt=0, description="Projected seconds above which a reach request gets 422."
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
    def resolved_impressions_path(self) -> Path:
        return self.impressions_path or self.work_dir / "impressions.sqlite3"

    @property
    def resolved_checkpoint_path(self) -> Path:
        return self.checkpoint_path or self.work_dir / "model.pt"

    @property
    def resolved_reach_dir(self) -> Path:
        return self.reach_dir or self.work_dir / "reach"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear it with ``get_settings.cache_clear()``)."""
    return Settings()
