"""Ingest fuzzing scenarios (hypothesis strategies): random malformed rows mixed with good ones,
each row carrying its expected fate, and the writer of a scenario's CSV files. Shared by the fuzz
tests (tests/graph/test_ingest_fuzz.py) and the columnar-vs-row-wise equivalence tests."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from graph.readers import TABLE_COLUMNS
from graph.schema import (
    INTERACTION_KINDS,
    UNKNOWN_TS,
    Friendship,
    Interaction,
    Item,
    User,
)
from graph.validate import MAX_ID_CHARS

NOW: Final[int] = 1_700_000_000
FUTURE: Final[int] = NOW + 400 * 86_400
LONG_ID: Final[str] = "L" * (MAX_ID_CHARS + 1)
#: Ids: printable text without control characters or whitespace (surrounding whitespace is
#: stripped by the readers, so it could not round-trip).
IDS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=10,
)
#: Free text (regions, categories): ids, or two ids around a line break, which a quoted CSV
#: field keeps (the row then spans several physical lines).
TEXTS = IDS | st.builds(lambda a, br, b: f"{a}{br}{b}", IDS, st.sampled_from(["\n", "\r\n"]), IDS)
TIMESTAMPS = st.integers(0, NOW)
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")
REASONS: Final[dict[str, str]] = {
    "missing": "missing {field}",
    "long": f"{{field}} is {MAX_ID_CHARS + 1} characters long, more than {MAX_ID_CHARS}",
    "utf8": "invalid UTF-8 in {field}",
    "ts_text": "timestamp 'soon' is neither epoch seconds nor ISO-8601",
    "ts_negative": "timestamp '-5' is before 1970 (negative)",
    "ts_future": f"timestamp '{FUTURE}' is more than a year in the future",
    "nan": "{field} is not a number",
    "negative": "{field} must be >= 0",
    "infinite": "{field} must be finite",
    "in_stock": "in_stock must be true/false/1/0/yes/no",
    "ghost": "unknown {what} '{value}' (not in {where} nor in the store)",
    "self": "self-friendship",
    "friend_kind": "unknown friendship kind (expected friend|follow)",
    "kind": "unknown interaction kind (expected view|click|cart|purchase|rating|tag)",
    "rating": "a rating needs a value in [0, 5]",
}


@dataclass
class Row:
    """One row to write: its values (or a field list, for a malformed row) and its fate.

    ``reject`` is (field, reason) for a row that must be rejected whatever precedes it;
    ``parsed`` the stored form of a row that is good unless a duplicate (decided in order).
    """

    values: dict[str, str | None] = field(default_factory=dict)
    fields: list[str] | None = None
    reject: tuple[str, str] | None = None
    parsed: User | Item | Friendship | Interaction | None = None


@dataclass
class Scenario:
    """The rows of each table in file order, the blank lines before each row, whether the
    files start with a byte-order mark, and the load's batch size."""

    tables: dict[str, list[Row]]
    blanks: dict[str, list[int]]
    bom: bool
    batch_size: int
    #: Parquet scenarios: the Arrow type of every column (values in ``Row.values`` are typed).
    arrow_types: dict[str, dict[str, pa.DataType]] | None = None

    @property
    def suffix(self) -> str:
        return ".csv" if self.arrow_types is None else ".parquet"


def _ts_text(draw: st.DrawFn, ts: int | None) -> str | None:
    """``ts`` as epoch seconds or ISO-8601 text (``None``: left empty)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat() if draw(st.booleans()) else str(ts)


def _number_text(value: float | None) -> str | None:
    return None if value is None else repr(value)  # repr: the exact float back when parsed


def _defects(
    draw: st.DrawFn, good: list[Row], choices: dict[str, Callable[[Row], None]]
) -> list[Row]:
    """Up to five bad rows: copies of good rows, each with one defect drawn from ``choices``."""
    bad = []
    for _ in range(draw(st.integers(0, 5))):
        row = Row(dict(draw(st.sampled_from(good)).values))
        choices[draw(st.sampled_from(sorted(choices)))](row)
        bad.append(row)
    return bad


def _missing(column: str) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row.values[column] = None
        row.reject = (column, REASONS["missing"].format(field=column))

    return apply


def _set(column: str, text: str, reason: str, **fmt: str) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row.values[column] = text
        row.reject = (column, reason.format(field=column, **fmt))

    return apply


def _undecodable(column: str) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row.values[column] = f"{row.values.get(column) or 'x'}\udcff"  # written as byte 0xFF
        row.reject = (column, REASONS["utf8"].format(field=column))

    return apply


def _wrong_count(table: str) -> Callable[[Row], None]:
    """One field too many (or too few, for tables with an even number of columns)."""
    required, optional = TABLE_COLUMNS[table]
    columns = [*required, *optional]

    def apply(row: Row) -> None:
        written = [row.values.get(c) or "" for c in columns]
        row.fields = [*written, "extra"] if len(columns) % 2 else written[:-1]
        row.reject = ("(row)", f"row has {len(row.fields)} fields, the header has {len(columns)}")

    return apply


def _timestamp_defects(column: str) -> dict[str, Callable[[Row], None]]:
    return {
        f"{column}_text": _set(column, "soon", REASONS["ts_text"]),
        f"{column}_negative": _set(column, "-5", REASONS["ts_negative"]),
        f"{column}_future": _set(column, str(FUTURE), REASONS["ts_future"]),
    }


def _ghost(column: str, n: int, what: str, where: str) -> Callable[[Row], None]:
    ghost = f"ghost\x07{n}"  # BEL: never in a generated id, and not stripped
    return _set(column, ghost, REASONS["ghost"], what=what, value=repr(ghost)[1:-1], where=where)


def _mix(draw: st.DrawFn, good: list[Row], bad: list[Row]) -> list[Row]:
    """Good rows, some of them again (duplicates), and the bad rows, in random order."""
    again = draw(st.lists(st.sampled_from(good), max_size=3)) if good else []
    copies = [Row(dict(r.values), parsed=r.parsed) for r in again]
    return draw(st.permutations([*good, *copies, *bad]))


def _users(draw: st.DrawFn, user_ids: list[str]) -> tuple[list[Row], list[Row]]:
    """(good rows, bad rows) of the users table."""
    users = []
    for uid in user_ids:
        region, signup = draw(st.none() | TEXTS), draw(st.none() | TIMESTAMPS)
        values = {"user_id": uid, "region": region, "signup_ts": _ts_text(draw, signup)}
        users.append(
            Row(values, parsed=User(uid, region, UNKNOWN_TS if signup is None else signup))
        )
    defects = {
        "missing": _missing("user_id"),
        "long": _set("user_id", LONG_ID, REASONS["long"]),
        "utf8": _undecodable("region"),
        "count": _wrong_count("users"),
        **_timestamp_defects("signup_ts"),
    }
    return users, _defects(draw, users, defects)


def _items(draw: st.DrawFn, item_ids: list[str]) -> tuple[list[Row], list[Row]]:
    """(good rows, bad rows) of the items table."""
    items = []
    for iid in item_ids:
        category = draw(st.none() | TEXTS)
        price = draw(st.none() | st.floats(0, 1e6, allow_nan=False))
        stock_text = draw(st.sampled_from(["", "true", "FALSE", "1", "0", "yes", "No"]))
        in_stock = stock_text.lower() in ("", "true", "1", "yes")
        values = {
            "item_id": iid,
            "category": category,
            "price": _number_text(price),
            "in_stock": stock_text or None,
        }
        items.append(Row(values, parsed=Item(iid, category, price, in_stock)))
    defects = {
        "missing": _missing("item_id"),
        "long": _set("item_id", LONG_ID, REASONS["long"]),
        "utf8": _undecodable("category"),
        "count": _wrong_count("items"),
        "nan": _set("price", "cheap", REASONS["nan"]),
        "negative": _set("price", "-0.5", REASONS["negative"]),
        "infinite": _set("price", "1e400", REASONS["infinite"]),
        "in_stock": _set("in_stock", "maybe", REASONS["in_stock"]),
    }
    return items, _defects(draw, items, defects)


def _friendships(draw: st.DrawFn, user_ids: list[str]) -> tuple[list[Row], list[Row]]:
    """(good rows, bad rows) of the friendships table; good rows may repeat a mutual
    friendship in the other direction (accepted once, stored once)."""
    friendships = []
    for _ in range(draw(st.integers(1, 8))):
        a, b = draw(st.lists(st.sampled_from(user_ids), min_size=2, max_size=2, unique=True))
        kind = draw(st.sampled_from(["friend", "follow"]))
        values = {
            "user_id": a,
            "friend_id": b,
            "kind": draw(st.sampled_from([kind, None])) if kind == "friend" else kind,
        }
        friendships.append(Row(values, parsed=Friendship(a, b, kind)))
    defects = {
        "missing": _missing("friend_id"),
        "long": _set("friend_id", LONG_ID, REASONS["long"]),
        "ghost_user": _ghost("user_id", 1, "user", "users"),
        "ghost_friend": _ghost("friend_id", 2, "user", "users"),
        "kind": _set("kind", "enemy", REASONS["friend_kind"]),
        "count": _wrong_count("friendships"),
    }
    bad = _defects(draw, friendships, defects)
    for row in draw(st.lists(st.sampled_from(friendships), max_size=2)):
        self_tie = {**row.values, "friend_id": row.values["user_id"]}
        bad.append(Row(self_tie, reject=("friend_id", REASONS["self"])))
    return friendships, bad


def _interactions(
    draw: st.DrawFn, user_ids: list[str], item_ids: list[str]
) -> tuple[list[Row], list[Row]]:
    """(good rows, bad rows) of the interactions table."""
    interactions = []
    for _ in range(draw(st.integers(1, 10))):
        uid, iid = draw(st.sampled_from(user_ids)), draw(st.sampled_from(item_ids))
        kind = draw(st.sampled_from(INTERACTION_KINDS))
        top = 5.0 if kind == "rating" else 1e6
        value = draw((st.none() if kind != "rating" else st.nothing()) | st.floats(0, top))
        ts = draw(st.none() | TIMESTAMPS)
        values = {
            "user_id": uid,
            "item_id": iid,
            "kind": kind,
            "value": _number_text(value),
            "ts": _ts_text(draw, ts),
        }
        stored = Interaction(
            uid, iid, kind, 1.0 if value is None else value, UNKNOWN_TS if ts is None else ts
        )
        interactions.append(Row(values, parsed=stored))
    defects = {
        "missing": _missing("kind"),
        "kind": _set("kind", "teleport", REASONS["kind"]),
        "ghost_user": _ghost("user_id", 3, "user", "users"),
        "ghost_item": _ghost("item_id", 4, "item", "items"),
        "long": _set("item_id", LONG_ID, REASONS["long"]),
        "nan": _set("value", "lots", REASONS["nan"]),
        "negative": _set("value", "-1", REASONS["negative"]),
        "infinite": _set("value", "inf", REASONS["infinite"]),
        "count": _wrong_count("interactions"),
        **_timestamp_defects("ts"),
    }
    bad = _defects(draw, interactions, defects)
    for row in draw(st.lists(st.sampled_from(interactions), max_size=2)):
        rating = {**row.values, "kind": "rating", "value": draw(st.sampled_from([None, "7"]))}
        bad.append(Row(rating, reject=("value", REASONS["rating"])))
    return interactions, bad


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Rows of all four tables; references point at good rows of earlier tables or ghosts."""
    user_ids = draw(st.lists(IDS, min_size=2, max_size=8, unique=True))
    item_ids = draw(st.lists(IDS, min_size=1, max_size=6, unique=True))
    users, bad_users = _users(draw, user_ids)
    items, bad_items = _items(draw, item_ids)
    friendships, bad_friendships = _friendships(draw, user_ids)
    interactions, bad_interactions = _interactions(draw, user_ids, item_ids)
    tables = {
        "users": _mix(draw, users, bad_users),
        "items": _mix(draw, items, bad_items),
        "friendships": _mix(draw, friendships, bad_friendships),
        "interactions": _mix(draw, interactions, bad_interactions),
    }
    blank = st.sampled_from([0, 0, 0, 1, 2])
    return Scenario(
        tables=tables,
        blanks={
            t: draw(st.lists(blank, min_size=len(r), max_size=len(r))) for t, r in tables.items()
        },
        bom=draw(st.booleans()),
        batch_size=draw(st.integers(1, 7)),
    )


# -- Parquet: typed columns ---------------------------------------------------------------

ID_TYPES: Final[dict[str, pa.DataType]] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "binary": pa.binary(),
}
TS_TYPES: Final[dict[str, pa.DataType]] = {
    "int64": pa.int64(),
    "utc": pa.timestamp("s", tz="UTC"),
    "naive": pa.timestamp("s"),
    "date": pa.date32(),
}


def _typed_ids(draw: st.DrawFn, kind: str, size: int) -> list[object]:
    if kind == "int64":
        return draw(st.lists(st.integers(0, 2**53), min_size=size, max_size=size, unique=True))
    ids = draw(st.lists(IDS, min_size=size, max_size=size, unique=True))
    return [i.encode() for i in ids] if kind == "binary" else list(ids)


def _typed_ghost(kind: str) -> object:
    return {"int64": -1, "string": "ghost\x07", "binary": b"ghost\x07"}[kind]


def _typed_ts(kind: str, ts: int) -> object:
    if kind == "int64":
        return ts
    moment = datetime.fromtimestamp(ts, UTC)
    return {"utc": moment, "naive": moment.replace(tzinfo=None), "date": moment.date()}[kind]


def _text(value: object) -> str:
    """A typed value as the documented format reads it (binary as UTF-8, dates ISO-8601)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _stored_ts(kind: str, ts: int | None) -> int:
    if ts is None:
        return UNKNOWN_TS
    return ts - ts % 86_400 if kind == "date" else ts  # a date is its midnight (UTC)


def _typed_defect(column: str, value: object, reason: str) -> Callable[[Row], None]:
    """Set ``column`` to the typed ``value``; the reason is formatted with its text."""
    text = _text(value)
    shown = repr(text)[1:-1]
    return _set_typed(column, value, reason.format(field=column, text=text, value=shown))


def _set_typed(column: str, value: object, reason: str) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row.values[column] = value
        row.reject = (column, reason)

    return apply


def _ts_typed_defects(column: str, kind: str) -> dict[str, Callable[[Row], None]]:
    before, after = _typed_ts(kind, -5), _typed_ts(kind, FUTURE)
    return {
        "negative": _typed_defect(column, before, "timestamp '{text}' is before 1970 (negative)"),
        "future": _typed_defect(
            column, after, "timestamp '{text}' is more than a year in the future"
        ),
    }


@st.composite
def parquet_scenarios(draw: st.DrawFn) -> Scenario:
    """Users, items and interactions as Parquet files whose id, number, boolean and
    timestamp columns have random Arrow types; bad rows have one defect each."""
    user_kind, item_kind = (
        draw(st.sampled_from(sorted(ID_TYPES))),
        draw(st.sampled_from(sorted(ID_TYPES))),
    )
    ts_kind, value_type = (
        draw(st.sampled_from(sorted(TS_TYPES))),
        draw(st.sampled_from([pa.int64(), pa.float64()])),
    )
    user_ids = _typed_ids(draw, user_kind, draw(st.integers(1, 6)))
    item_ids = _typed_ids(draw, item_kind, draw(st.integers(1, 5)))

    users = []
    for uid in user_ids:
        signup = draw(st.none() | TIMESTAMPS)
        values = {
            "user_id": uid,
            "signup_ts": None if signup is None else _typed_ts(ts_kind, signup),
        }
        users.append(Row(values, parsed=User(_text(uid), None, _stored_ts(ts_kind, signup))))
    user_defects = {"missing": _missing("user_id"), **_ts_typed_defects("signup_ts", ts_kind)}
    if user_kind == "binary":
        user_defects["utf8"] = _set_typed("user_id", b"\xff", "invalid UTF-8 in user_id")

    items = []
    for iid in item_ids:
        price = draw(st.none() | st.floats(0, 1e6))
        in_stock = draw(st.sampled_from([None, True, False]))
        values = {"item_id": iid, "price": price, "in_stock": in_stock}
        items.append(Row(values, parsed=Item(_text(iid), None, price, in_stock is not False)))
    item_defects = {
        "missing": _missing("item_id"),
        "nan": _typed_defect("price", math.nan, REASONS["infinite"]),
        "infinite": _typed_defect("price", -math.inf, REASONS["infinite"]),
        "negative": _typed_defect("price", -0.5, REASONS["negative"]),
    }

    interactions = []
    for _ in range(draw(st.integers(1, 8))):
        uid, iid = draw(st.sampled_from(user_ids)), draw(st.sampled_from(item_ids))
        kind = draw(st.sampled_from(INTERACTION_KINDS))
        top = 5 if kind == "rating" else 1000
        value = draw(st.integers(0, top) | (st.none() if kind != "rating" else st.nothing()))
        if value is not None and pa.types.is_floating(value_type):
            value = value / 4
        ts = draw(st.none() | TIMESTAMPS)
        values = {
            "user_id": uid,
            "item_id": iid,
            "kind": kind,
            "value": value,
            "ts": None if ts is None else _typed_ts(ts_kind, ts),
        }
        stored = Interaction(
            _text(uid),
            _text(iid),
            kind,
            1.0 if value is None else float(value),
            _stored_ts(ts_kind, ts),
        )
        interactions.append(Row(values, parsed=stored))
    interaction_defects = {
        "kind": _set("kind", "teleport", REASONS["kind"]),
        "ghost_user": _typed_defect(
            "user_id",
            _typed_ghost(user_kind),
            REASONS["ghost"].replace("{what}", "user").replace("{where}", "users"),
        ),
        "ghost_item": _typed_defect(
            "item_id",
            _typed_ghost(item_kind),
            REASONS["ghost"].replace("{what}", "item").replace("{where}", "items"),
        ),
        "negative": _typed_defect(
            "value", -1 if pa.types.is_integer(value_type) else -1.0, REASONS["negative"]
        ),
        **_ts_typed_defects("ts", ts_kind),
    }

    tables = {
        "users": _mix(draw, users, _defects(draw, users, user_defects)),
        "items": _mix(draw, items, _defects(draw, items, item_defects)),
        "interactions": _mix(draw, interactions, _defects(draw, interactions, interaction_defects)),
    }
    id_of = {"users": ID_TYPES[user_kind], "items": ID_TYPES[item_kind]}
    arrow_types = {
        "users": {
            "user_id": id_of["users"],
            "region": pa.string(),
            "signup_ts": TS_TYPES[ts_kind],
            "private": pa.bool_(),
        },
        "items": {
            "item_id": id_of["items"],
            "category": pa.string(),
            "price": pa.float64(),
            "in_stock": pa.bool_(),
        },
        "interactions": {
            "user_id": id_of["users"],
            "item_id": id_of["items"],
            "kind": pa.string(),
            "value": value_type,
            "ts": TS_TYPES[ts_kind],
        },
    }
    return Scenario(
        tables=tables,
        blanks={t: [0] * len(r) for t, r in tables.items()},
        bom=False,
        batch_size=draw(st.integers(1, 7)),
        arrow_types=arrow_types,
    )


def write_scenario(scenario: Scenario, directory: Path) -> dict[str, list[int]]:
    """Write one CSV file per table; return each row's line (the physical line it starts on,
    counting line breaks as the reader does: ``\\n``, ``\\r\\n`` or ``\\r``)."""
    lines: dict[str, list[int]] = {}
    for table, rows in scenario.tables.items():
        required, optional = TABLE_COLUMNS[table]
        columns = [*required, *optional]
        if scenario.arrow_types is not None:  # Parquet: a row's line is its 1-based number
            types = scenario.arrow_types[table]
            data = {c: pa.array([r.values.get(c) for r in rows], types[c]) for c in columns}
            pq.write_table(pa.table(data), directory / f"{table}.parquet")
            lines[table] = list(range(1, len(rows) + 1))
            continue
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        line, starts = 2, []
        for row, blanks in zip(rows, scenario.blanks[table], strict=True):
            text.write("\n" * blanks)
            line += blanks
            starts.append(line)
            record = io.StringIO()
            csv.writer(record, lineterminator="\n").writerow(
                row.fields if row.fields is not None else [row.values.get(c) or "" for c in columns]
            )
            text.write(record.getvalue())
            line += len(_LINE_BREAK.findall(record.getvalue()))
        lines[table] = starts
        prefix = "\ufeff" if scenario.bom else ""
        data = (prefix + text.getvalue()).encode("utf-8", "surrogateescape")
        (directory / f"{table}.csv").write_bytes(data)
    return lines


FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
