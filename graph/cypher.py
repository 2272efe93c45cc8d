"""Every Cypher statement the Neo4j store runs, as parameterised constants.

Only common Cypher that Neo4j 5 and other Bolt servers (ArcadeDB) both run: no APOC, no GDS,
no ``id()``/``elementId()`` keys. Values always travel as parameters (``$rows``, ``$id``).
"""

from __future__ import annotations

from typing import Final

#: Constraints and indexes, created (if missing) whenever a store is opened.
CONSTRAINTS: Final[tuple[str, ...]] = (
    "CREATE CONSTRAINT user_id_unique IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE",
    "CREATE CONSTRAINT item_id_unique IF NOT EXISTS FOR (i:Item) REQUIRE i.id IS UNIQUE",
    "CREATE CONSTRAINT change_key_unique IF NOT EXISTS "
    "FOR (c:Change) REQUIRE (c.seq, c.pos) IS UNIQUE",
    "CREATE CONSTRAINT change_seq_id_unique IF NOT EXISTS FOR (s:ChangeSeq) REQUIRE s.id IS UNIQUE",
    "CREATE INDEX change_seq IF NOT EXISTS FOR (c:Change) ON (c.seq)",
    "CREATE INDEX change_user IF NOT EXISTS FOR (c:Change) ON (c.user_id)",
)

# An absent field (region or private null, signup_ts -1) keeps the stored value.
UPSERT_USERS: Final = """
UNWIND $rows AS r
MERGE (u:User {id: r.id})
SET u.region = coalesce(r.region, u.region),
    u.signup_ts = CASE WHEN r.signup_ts = -1 THEN coalesce(u.signup_ts, -1) ELSE r.signup_ts END,
    u.private = coalesce(r.private, u.private)
"""

UPSERT_ITEMS: Final = """
UNWIND $rows AS r
MERGE (i:Item {id: r.id})
SET i.category = r.category, i.price = r.price, i.in_stock = r.in_stock
"""

UPSERT_FRIENDS: Final = """
UNWIND $rows AS r
MATCH (a:User {id: r.user_id})
MATCH (b:User {id: r.friend_id})
MERGE (a)-[:FRIEND]->(b)
"""

UPSERT_FOLLOWS: Final = """
UNWIND $rows AS r
MATCH (a:User {id: r.user_id})
MATCH (b:User {id: r.friend_id})
MERGE (a)-[:FOLLOWS]->(b)
"""

#: Rows grouped by user (``$groups``: ``{user_id, rows: [{item_id, kind, ts, value}]}``), so each
#: user is looked up once per batch rather than once per interaction.
UPSERT_INTERACTIONS: Final = """
UNWIND $groups AS g
MATCH (u:User {id: g.user_id})
UNWIND g.rows AS r
MATCH (i:Item {id: r.item_id})
MERGE (u)-[x:INTERACTED {kind: r.kind, ts: r.ts}]->(i)
SET x.value = r.value
"""

#: One row per query: the slow path the ingest benchmark compares against.
UPSERT_INTERACTION_ONE: Final = """
MATCH (u:User {id: $user_id})
MATCH (i:Item {id: $item_id})
MERGE (u)-[x:INTERACTED {kind: $kind, ts: $ts}]->(i)
SET x.value = $value
"""

EXISTING_USERS: Final = "UNWIND $ids AS id MATCH (u:User {id: id}) RETURN u.id AS id"
USERS_BY_ID: Final = """
UNWIND $ids AS id MATCH (u:User {id: id})
RETURN u.id AS id, u.region AS region, u.signup_ts AS signup_ts, u.private AS private
"""
# The stored value of each (user, item, kind, ts) of $rows that the store holds.
INTERACTION_VALUES: Final = """
UNWIND $rows AS r
MATCH (:User {id: r.user_id})-[x:INTERACTED {kind: r.kind, ts: r.ts}]->(:Item {id: r.item_id})
RETURN r.user_id AS user_id, r.item_id AS item_id, r.kind AS kind, r.ts AS ts, x.value AS value
"""
EXISTING_ITEMS: Final = "UNWIND $ids AS id MATCH (i:Item {id: id}) RETURN i.id AS id"

FIND_USER: Final = "MATCH (u:User {id: $id}) RETURN u.id AS id"
DELETE_USER: Final = "MATCH (u:User {id: $id}) DETACH DELETE u"

# The change log (see graph.store): one (:Change {seq, pos, op, user_id, ...}) node per row and
# the sequence in the single (:ChangeSeq {id: 'changes'}) node. Incrementing it write-locks that
# node until the transaction commits, so sequence numbers become visible in increasing order
# (servers with optimistic concurrency instead fail the loser on the (seq, pos) uniqueness
# constraint; the store runs it again: Neo4jStore._logged_write).
NEXT_CHANGE_SEQ: Final = """
MERGE (s:ChangeSeq {id: 'changes'})
SET s.seq = coalesce(s.seq, 0) + 1
RETURN s.seq AS seq
"""

LOG_CHANGES: Final = """
UNWIND $rows AS r
CREATE (:Change {seq: $seq, pos: r.pos, op: r.op, user_id: r.user_id, item_id: r.item_id,
                 kind: r.kind, ts: r.ts, value: r.value, region: r.region,
                 signup_ts: r.signup_ts, private: r.private})
"""

PURGE_USER_CHANGES: Final = "MATCH (c:Change {user_id: $id}) DELETE c"
COMPACT_CHANGES: Final = """
MATCH (c:Change) WHERE c.seq <= $upto AND (c.op <> 'delete' OR NOT $keep_deletions)
DELETE c
RETURN count(*) AS n
"""

CHANGE_HEAD: Final = """
OPTIONAL MATCH (s:ChangeSeq {id: 'changes'})
RETURN coalesce(s.seq, 0) AS seq
"""

CHANGE_SEQS: Final = """
MATCH (c:Change) WHERE c.seq > $after AND c.seq <= $upto
WITH DISTINCT c.seq AS seq
RETURN seq ORDER BY seq LIMIT $n
"""

CHANGES_BETWEEN: Final = """
MATCH (c:Change) WHERE c.seq > $after AND c.seq <= $upto
RETURN c.seq AS seq, c.pos AS pos, c.op AS op, c.user_id AS user_id, c.item_id AS item_id,
       c.kind AS kind, c.ts AS ts, c.value AS value, c.region AS region,
       c.signup_ts AS signup_ts, c.private AS private
ORDER BY seq, pos
"""

COUNT_USERS: Final = "MATCH (u:User) RETURN count(u) AS n"
COUNT_ITEMS: Final = "MATCH (i:Item) RETURN count(i) AS n"
COUNT_FRIENDSHIPS: Final = "MATCH (:User)-[r:FRIEND|FOLLOWS]->(:User) RETURN count(r) AS n"
COUNT_INTERACTIONS: Final = "MATCH (:User)-[r:INTERACTED]->(:Item) RETURN count(r) AS n"

# Keyset pages by the uniquely indexed id: ``$after`` is the last id of the previous page
# ("" before the first page; every id is a non-empty string).
PAGE_USERS: Final = """
MATCH (u:User) WHERE u.id > $after
RETURN u.id AS id, u.region AS region, u.signup_ts AS signup_ts, u.private AS private
ORDER BY u.id LIMIT $n
"""

PAGE_ITEMS: Final = """
MATCH (i:Item) WHERE i.id > $after
RETURN i.id AS id, i.category AS category, i.price AS price, i.in_stock AS in_stock
ORDER BY i.id LIMIT $n
"""

#: The next ``$n`` user ids after ``$after``: relationship pages are keyed by their source user.
PAGE_USER_IDS: Final = """
MATCH (u:User) WHERE u.id > $after
RETURN u.id AS id ORDER BY u.id LIMIT $n
"""

FRIENDSHIPS_OF: Final = """
UNWIND $ids AS uid
MATCH (a:User {id: uid})-[r:FRIEND|FOLLOWS]->(b:User)
RETURN a.id AS user_id, b.id AS friend_id,
       CASE type(r) WHEN 'FRIEND' THEN 'friend' ELSE 'follow' END AS kind
"""

INTERACTIONS_OF: Final = """
UNWIND $ids AS uid
MATCH (u:User {id: uid})-[r:INTERACTED]->(i:Item)
RETURN u.id AS user_id, i.id AS item_id, r.kind AS kind, r.ts AS ts, r.value AS value
"""

#: Deletes up to ``$n`` nodes (with their relationships); returns how many it deleted.
CLEAR_BATCH: Final = """
MATCH (n) WITH n LIMIT $n
DETACH DELETE n
RETURN count(*) AS deleted
"""
