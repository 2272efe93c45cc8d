"""The Cypher of the serve log (:mod:`graph.serve_log`) in the Neo4j store, parameterised.

Graph model (no relationships: a serve outlives the graph's users and items until compacted)::

    (:Serve {serve_id, user_id, ts, surface, items: [item ids in order], model, experiment,
             variant})
    (:Attribution {user_id, item_id, kind, ts, value, serve_id, position, method})
    (:Campaign {campaign_id, created_ts, kols: [user ids], body})   body: the record as JSON

Only common Cypher that Neo4j 5 and ArcadeDB's Bolt endpoint both run (see graph/cypher.py).
"""

from __future__ import annotations

from typing import Final

CONSTRAINTS: Final[tuple[str, ...]] = (
    "CREATE CONSTRAINT serve_id_unique IF NOT EXISTS FOR (s:Serve) REQUIRE s.serve_id IS UNIQUE",
    "CREATE CONSTRAINT attribution_key_unique IF NOT EXISTS "
    "FOR (a:Attribution) REQUIRE (a.user_id, a.item_id, a.kind, a.ts) IS UNIQUE",
    "CREATE INDEX serve_user IF NOT EXISTS FOR (s:Serve) ON (s.user_id)",
    "CREATE INDEX serve_ts IF NOT EXISTS FOR (s:Serve) ON (s.ts)",
    "CREATE INDEX attribution_ts IF NOT EXISTS FOR (a:Attribution) ON (a.ts)",
    "CREATE INDEX attribution_serve IF NOT EXISTS FOR (a:Attribution) ON (a.serve_id)",
    "CREATE INDEX attribution_user IF NOT EXISTS FOR (a:Attribution) ON (a.user_id)",
    "CREATE CONSTRAINT campaign_id_unique IF NOT EXISTS "
    "FOR (c:Campaign) REQUIRE c.campaign_id IS UNIQUE",
)

#: A known serve_id keeps what was stored first (a serve is written once).
RECORD_SERVES: Final = """
UNWIND $rows AS r
MERGE (s:Serve {serve_id: r.serve_id})
ON CREATE SET s.user_id = r.user_id, s.ts = r.ts, s.surface = r.surface, s.items = r.items,
              s.model = r.model, s.experiment = r.experiment, s.variant = r.variant
"""

_SERVE_FIELDS: Final = """
RETURN s.serve_id AS serve_id, s.user_id AS user_id, s.ts AS ts, s.surface AS surface,
       s.items AS items, s.model AS model, s.experiment AS experiment, s.variant AS variant
"""

SERVES_BY_ID: Final = "UNWIND $ids AS id MATCH (s:Serve {serve_id: id})" + _SERVE_FIELDS

SERVES_OF: Final = (
    "UNWIND $users AS user MATCH (s:Serve {user_id: user}) WHERE s.ts >= $since AND s.ts <= $until "
    "AND ($items IS NULL OR any(i IN s.items WHERE i IN $items))"
    + _SERVE_FIELDS
    + "ORDER BY ts DESC, serve_id DESC"
)

#: Keyset page by (ts, serve_id) after ($ts, $after); the first page has $ts = $since, $after "".
PAGE_SERVES: Final = (
    "MATCH (s:Serve) WHERE s.ts >= $since AND (s.ts > $ts OR (s.ts = $ts AND s.serve_id > $after))"
    + _SERVE_FIELDS
    + "ORDER BY ts, serve_id LIMIT $n"
)

UPSERT_ATTRIBUTIONS: Final = """
UNWIND $rows AS r
MERGE (a:Attribution {user_id: r.user_id, item_id: r.item_id, kind: r.kind, ts: r.ts})
SET a.value = r.value, a.serve_id = r.serve_id, a.position = r.position, a.method = r.method
"""

#: Keyset page by (ts, user_id, item_id, kind); the first page has $ts = $since and "" keys.
PAGE_ATTRIBUTIONS: Final = """
MATCH (a:Attribution)
WHERE a.ts >= $since AND (a.ts > $ts OR (a.ts = $ts AND (a.user_id > $user_id OR
      (a.user_id = $user_id AND (a.item_id > $item_id OR
      (a.item_id = $item_id AND a.kind > $kind))))))
RETURN a.user_id AS user_id, a.item_id AS item_id, a.kind AS kind, a.ts AS ts,
       a.value AS value, a.serve_id AS serve_id, a.position AS position, a.method AS method
ORDER BY ts, user_id, item_id, kind LIMIT $n
"""

EXPIRE_ATTRIBUTIONS: Final = "MATCH (a:Attribution) WHERE a.ts < $before DELETE a"
EXPIRED_SERVES: Final = "MATCH (s:Serve) WHERE s.ts < $before RETURN s.serve_id AS id"
SERVES_BEYOND_CAP: Final = """
MATCH (s:Serve)
RETURN s.serve_id AS id ORDER BY s.ts DESC, s.serve_id DESC SKIP $keep
"""
REMOVE_SERVE_ATTRIBUTIONS: Final = "UNWIND $ids AS id MATCH (a:Attribution {serve_id: id}) DELETE a"
REMOVE_SERVES: Final = """
UNWIND $ids AS id MATCH (s:Serve {serve_id: id})
DELETE s
RETURN count(*) AS n
"""

PURGE_USER_ATTRIBUTIONS: Final = "MATCH (a:Attribution {user_id: $id}) DELETE a"
PURGE_USER_SERVES: Final = "MATCH (s:Serve {user_id: $id}) DELETE s"
PURGE_USER_CAMPAIGNS: Final = "MATCH (c:Campaign) WHERE $id IN c.kols DELETE c"

COUNT_SERVES: Final = "MATCH (s:Serve) RETURN count(s) AS n"
COUNT_ATTRIBUTIONS: Final = "MATCH (a:Attribution) RETURN count(a) AS n"

RECORD_CAMPAIGN: Final = """
MERGE (c:Campaign {campaign_id: $id})
ON CREATE SET c.created_ts = $created_ts, c.kols = $kols, c.body = $body
"""
CAMPAIGN: Final = "MATCH (c:Campaign {campaign_id: $id}) RETURN c.body AS body"
CAMPAIGNS: Final = """
MATCH (c:Campaign)
RETURN c.body AS body, c.created_ts AS created_ts, c.campaign_id AS id ORDER BY created_ts, id
"""
