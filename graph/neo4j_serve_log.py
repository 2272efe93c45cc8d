"""The serve log (:mod:`graph.serve_log`) in the Neo4j store: ``(:Serve)`` and
``(:Attribution)`` nodes (see :mod:`graph.serve_log_cypher`).

:class:`Neo4jServeLog` is a mixin of :class:`graph.neo4j_store.Neo4jStore`: it runs its
statements through the store's managed transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, LiteralString, cast

from neo4j import ManagedTransaction

from graph import serve_log_cypher as cy
from graph.serve_log import Attribution, Serve, check_retention, check_serve


class Neo4jServeLog:
    """:class:`graph.serve_log.ServeLog` on the store's driver (a mixin)."""

    _session_call: Callable[[str, Any], Any]
    _read: Callable[..., list[dict[str, Any]]]

    def record_serves(self, serves: Sequence[Serve]) -> int:
        for serve in serves:
            check_serve(serve)
        rows = [
            {
                "serve_id": s.serve_id,
                "user_id": s.user_id,
                "ts": s.ts,
                "surface": s.surface,
                "items": list(s.items),
                "model": s.model,
                "experiment": s.experiment,
                "variant": s.variant,
            }
            for s in serves
        ]
        if rows:
            self._session_call("write", _run(cy.RECORD_SERVES, rows=rows))
        return len(serves)

    def serves_by_id(self, serve_ids: Sequence[str]) -> list[Serve]:
        return [_serve(r) for r in self._read(cy.SERVES_BY_ID, ids=list(set(serve_ids)))]

    def serves_of(
        self,
        user_ids: Sequence[str],
        since_ts: int,
        until_ts: int,
        item_ids: Sequence[str] | None = None,
    ) -> list[Serve]:
        wanted = None if item_ids is None else sorted(set(item_ids))
        rows = self._read(
            cy.SERVES_OF, users=sorted(set(user_ids)), since=since_ts, until=until_ts, items=wanted
        )
        return [_serve(r) for r in rows]

    def record_attributions(self, rows: Sequence[Attribution]) -> int:
        params = [
            {
                "user_id": a.user_id,
                "item_id": a.item_id,
                "kind": a.kind,
                "ts": a.ts,
                "value": a.value,
                "serve_id": a.serve_id,
                "position": a.position,
                "method": a.method,
            }
            for a in rows
        ]
        if params:
            self._session_call("write", _run(cy.UPSERT_ATTRIBUTIONS, rows=params))
        return len(rows)

    def iter_serves(self, since_ts: int = 0, batch_size: int = 10_000) -> Iterator[list[Serve]]:
        _check_batch(batch_size)
        ts, after = since_ts, ""
        while True:
            page = self._read(_q(cy.PAGE_SERVES), since=since_ts, ts=ts, after=after, n=batch_size)
            if not page:
                return
            yield [_serve(r) for r in page]
            ts, after = int(page[-1]["ts"]), page[-1]["serve_id"]

    def iter_attributions(
        self, since_ts: int = 0, batch_size: int = 10_000
    ) -> Iterator[list[Attribution]]:
        _check_batch(batch_size)
        key: dict[str, Any] = {"ts": since_ts, "user_id": "", "item_id": "", "kind": ""}
        while True:
            page = self._read(cy.PAGE_ATTRIBUTIONS, since=since_ts, n=batch_size, **key)
            if not page:
                return
            yield [
                Attribution(
                    r["user_id"],
                    r["item_id"],
                    r["kind"],
                    int(r["ts"]),
                    float(r["value"]),
                    r["serve_id"],
                    int(r["position"]),
                    r["method"],
                )
                for r in page
            ]
            key = {name: page[-1][name] for name in key}

    def compact_serves(self, before_ts: int, *, max_serves: int | None = None) -> int:
        check_retention(before_ts, max_serves)

        def work(tx: ManagedTransaction) -> int:
            tx.run(_q(cy.EXPIRE_ATTRIBUTIONS), before=before_ts).consume()
            removed = _remove(
                tx, [r["id"] for r in tx.run(_q(cy.EXPIRED_SERVES), before=before_ts)]
            )
            if max_serves is not None:
                beyond = [r["id"] for r in tx.run(_q(cy.SERVES_BEYOND_CAP), keep=max_serves)]
                removed += _remove(tx, beyond)
            return removed

        return int(self._session_call("write", work))

    def serve_counts(self) -> tuple[int, int]:
        serves = int(self._read(cy.COUNT_SERVES)[0]["n"])
        return serves, int(self._read(cy.COUNT_ATTRIBUTIONS)[0]["n"])

    def record_campaign(
        self, campaign_id: str, created_ts: int, kols: Sequence[str], body: str
    ) -> None:
        work = _run(
            cy.RECORD_CAMPAIGN, id=campaign_id, created_ts=created_ts, kols=list(kols), body=body
        )
        self._session_call("write", work)

    def campaign_bodies(self, campaign_id: str | None = None) -> list[str]:
        if campaign_id is not None:
            return [r["body"] for r in self._read(cy.CAMPAIGN, id=campaign_id)]
        return [r["body"] for r in self._read(cy.CAMPAIGNS)]


def purge_serves(tx: ManagedTransaction, user_id: str) -> None:
    """Remove ``user_id``'s serves and attributions, and the campaigns naming them as a KOL
    (inside the deletion's transaction)."""
    tx.run(_q(cy.PURGE_USER_ATTRIBUTIONS), id=user_id).consume()
    tx.run(_q(cy.PURGE_USER_SERVES), id=user_id).consume()
    tx.run(_q(cy.PURGE_USER_CAMPAIGNS), id=user_id).consume()


def _remove(tx: ManagedTransaction, ids: list[str]) -> int:
    if not ids:
        return 0
    tx.run(_q(cy.REMOVE_SERVE_ATTRIBUTIONS), ids=ids).consume()
    return int(tx.run(_q(cy.REMOVE_SERVES), ids=ids).single(strict=True)["n"])


def _run(query: str, **params: Any) -> Callable[[ManagedTransaction], None]:
    def work(tx: ManagedTransaction) -> None:
        tx.run(_q(query), params).consume()

    return work


def _serve(row: dict[str, Any]) -> Serve:
    return Serve(
        row["serve_id"],
        row["user_id"],
        int(row["ts"]),
        row["surface"],
        tuple(row["items"] or ()),
        row["model"],
        row["experiment"],
        row["variant"],
    )


def _check_batch(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def _q(text: str) -> LiteralString:
    return cast(LiteralString, text)
