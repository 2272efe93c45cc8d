"""Readers that turn input files into raw rows for :mod:`graph.validate`.

Input directory format
----------------------
A directory with up to four tables, each as ``<name>.csv`` (UTF-8, header row, comma
separated, a leading byte-order mark is allowed) or ``<name>.parquet`` (not both; columns of
text, binary (read as UTF-8), numbers, booleans, dates or timestamps):

``users``
    ``user_id`` (required), ``region`` (optional text), ``signup_ts`` (optional timestamp),
    ``private`` (optional true/false: the privacy setting, docs/privacy.md).
``items``
    ``item_id`` (required), ``category`` (optional text), ``price`` (optional number >= 0),
    ``in_stock`` (``true/false/1/0/yes/no``, any case; empty means true).
``friendships``
    ``user_id``, ``friend_id`` (required), ``kind`` = ``friend`` | ``follow`` (empty means
    ``friend``). ``friend`` is mutual and may be listed once or in both directions (the reverse
    listing is the same friendship, not a duplicate); ``follow`` means ``user_id`` follows
    ``friend_id``.
``interactions``
    ``user_id``, ``item_id``, ``kind`` = ``view`` | ``click`` | ``cart`` | ``purchase`` |
    ``rating`` | ``tag`` (all three required), ``value`` (number >= 0, empty means 1; a
    ``rating`` must have a value in [0, 5]), ``ts`` (optional timestamp). ``tag`` (a user's
    first tag of an item) is left out of training unless asked for.

Timestamps are integer (or fractional, floored) epoch seconds or ISO-8601 (naive means UTC);
they are stored as integer seconds UTC, and a missing one as ``graph.schema.UNKNOWN_TS``.
Negative timestamps and timestamps more than a year after the load are rejected.
Ids are strings: integers are read as their decimal string and an id is kept exactly as given
(no stripping, case folding or Unicode normalisation): an id with leading or trailing
whitespace is rejected with its line, never changed; it may be at most 256 characters long
(``graph.validate.MAX_ID_CHARS``). Surrounding whitespace is stripped from every other value
of CSV and Parquet tables, and an empty value is missing. Columns not listed above are
ignored (the load summary names them). A table file without one of its required columns is
a file-level error (:class:`InputFormatError`, raised before anything is loaded). A row is
identified by its file name and line number (CSV: physical line, the header being line 1;
Parquet: 1-based row number).

Other sources
-------------
:func:`read_lastfm` reads the HetRec 2011 Last.fm release and :func:`read_recbole` RecBole
atomic ``.inter``/``.net`` files; both give the same raw rows, so they go through the same
validation and load path (see their docstrings for the mapping).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

#: Table name -> (required columns, optional columns), in load order.
TABLE_COLUMNS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "users": (("user_id",), ("region", "signup_ts", "private")),
    "items": (("item_id",), ("category", "price", "in_stock")),
    "friendships": (("user_id", "friend_id"), ("kind",)),
    "interactions": (("user_id", "item_id", "kind"), ("value", "ts")),
}
TABLES: Final[tuple[str, ...]] = tuple(TABLE_COLUMNS)


class InputFormatError(ValueError):
    """An input file cannot be read as a table at all (missing column, unreadable header)."""


@dataclass(frozen=True, slots=True)
class RawRow:
    """One input row before validation: text values (``None`` when empty/absent; stripped,
    except ids).

    ``malformed`` describes a row that cannot be read field by field (wrong field count).
    """

    line: int
    values: dict[str, str | None]
    malformed: str | None = None


@dataclass(slots=True)
class TableSource:
    """The rows of one table from one file, read lazily."""

    table: str
    file: str
    rows: Iterable[RawRow]
    ignored_columns: tuple[str, ...] = field(default=())
    #: The CSV or Parquet file and its header, for table files (:func:`read_table_file`):
    #: :mod:`graph.columns` reads a CSV file column by column instead of through ``rows``.
    path: Path | None = None
    header: list[str] | None = None


#: Id columns: their values are never stripped (validation rejects surrounding whitespace).
ID_COLUMNS: Final[frozenset[str]] = frozenset({"user_id", "item_id", "friend_id"})


def clean(value: Any, name: str = "") -> str | None:
    """``value`` as text, stripped unless ``name`` is an id column; empty -> ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, bytes):  # Parquet binary: UTF-8 text; bad bytes left to validation
        text = value.decode("utf-8", "surrogateescape")
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    else:
        text = str(value)
    if name not in ID_COLUMNS:
        text = text.strip()
    return text if text.strip() else None


def _split_header(path: Path, table: str, header: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """Check ``header`` against the table's columns; return (header, ignored columns)."""
    required, optional = TABLE_COLUMNS[table]
    names = [h.strip() for h in header]
    for column in required:
        if column not in names:
            raise InputFormatError(
                f"{path}: required column {column!r} is missing from table {table!r} "
                f"(header: {', '.join(names) or 'empty'})"
            )
    known = set(required) | set(optional)
    ignored = tuple(n for n in names if n not in known)
    return names, ignored


def csv_rows(
    path: Path, header: list[str], table: str, *, offset: int | None = None, line: int = 0
) -> Iterator[RawRow]:
    """The rows of a CSV table file read with the ``csv`` module, after the header, or from
    byte ``offset`` (the start of line ``line + 1``) when given."""
    required, optional = TABLE_COLUMNS[table]
    wanted = [(n, header.index(n)) for n in (*required, *optional) if n in header]
    if offset is None:
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
        base = 0
    else:
        binary = path.open("rb")
        binary.seek(offset)
        handle = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
        base = line
    with handle:
        reader = csv.reader(handle)
        if offset is None:
            next(reader, None)
        line = base + reader.line_num
        for fields in reader:
            start, line = line + 1, base + reader.line_num
            if not fields:
                continue
            values = {n: clean(fields[i], n) if i < len(fields) else None for n, i in wanted}
            malformed = None
            if len(fields) != len(header):
                malformed = f"row has {len(fields)} fields, the header has {len(header)}"
            yield RawRow(start, values, malformed)


def _parquet_rows(path: Path, header: list[str], table: str) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    required, optional = TABLE_COLUMNS[table]
    wanted = [n for n in (*required, *optional) if n in header]
    line = 0
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(columns=wanted):
            columns = {n: batch.column(n).to_pylist() for n in wanted}
            for i in range(batch.num_rows):
                line += 1
                yield RawRow(line, {n: clean(columns[n][i], n) for n in wanted})


def _check_parquet_types(file: Path, schema: pa.Schema, columns: Iterable[str]) -> None:
    """Raise :class:`InputFormatError` for a used column whose values are not scalars (lists,
    structs, maps...), which would otherwise be read as their Python text."""
    import pyarrow.types as pt

    scalar = (
        pt.is_string,
        pt.is_large_string,
        pt.is_string_view,
        pt.is_binary,
        pt.is_large_binary,
        pt.is_binary_view,
        pt.is_integer,
        pt.is_floating,
        pt.is_decimal,
        pt.is_boolean,
        pt.is_date,
        pt.is_timestamp,
        pt.is_null,
    )
    for name in columns:
        kind = schema.field(name).type
        value_kind = kind.value_type if pt.is_dictionary(kind) else kind
        if not any(check(value_kind) for check in scalar):
            raise InputFormatError(
                f"{file}: column {name!r} has Parquet type {kind}; expected text, a number, "
                "a boolean, a date or a timestamp"
            )


def read_table_file(path: str | os.PathLike[str], table: str) -> TableSource:
    """Open one CSV or Parquet table file; rows are read lazily when iterated.

    Raises:
        ValueError: if ``table`` is not one of :data:`TABLES`.
        InputFormatError: if a required column is missing or the header cannot be read.
    """
    if table not in TABLE_COLUMNS:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
    file = Path(path)
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(file)
            header = list(schema.names)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise InputFormatError(f"{file}: not a readable Parquet file ({exc})") from exc
        names, ignored = _split_header(file, table, header)
        _check_parquet_types(file, schema, [n for n in names if n not in ignored])
        return TableSource(
            table, file.name, _parquet_rows(file, names, table), ignored, file, names
        )
    _check_text_encoding(file)
    with file.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        header = next(csv.reader(handle), [])
    names, ignored = _split_header(file, table, header)
    return TableSource(table, file.name, csv_rows(file, names, table), ignored, file, names)


def _check_text_encoding(file: Path) -> None:
    """Refuse a CSV file that is not UTF-8 text in a way that garbles every field (UTF-16)."""
    with file.open("rb") as handle:
        start = handle.read(4096)
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputFormatError(
            f"{file}: the file is UTF-16 (it starts with a UTF-16 byte order mark); "
            "save it as UTF-8 (CSV UTF-8) and load it again"
        )
    if start.count(b"\x00") * 4 >= len(start) > 0:  # UTF-16 text: every other byte is NUL
        raise InputFormatError(
            f"{file}: a quarter or more of the file's first bytes are NUL, so it is not UTF-8 "
            "text (UTF-16 without a byte order mark, or binary); save it as UTF-8 and load it "
            "again"
        )


def expected_file_names() -> list[str]:
    """The file names of an input directory's tables, in load order."""
    return [f"{t}{ext}" for t in TABLES for ext in (".csv", ".parquet")]


def unexpected_files(directory: str | os.PathLike[str]) -> list[str]:
    """Names of the files of an input directory that are not table files (e.g. a misspelled
    ``interaction.csv``), sorted; hidden files and subdirectories are left out."""
    expected = set(expected_file_names())
    return sorted(
        p.name
        for p in Path(directory).iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in expected
    )


def read_directory(directory: str | os.PathLike[str], *, strict: bool = False) -> list[TableSource]:
    """Open the table files of an input directory (see the module docstring). Other files
    are ignored (:func:`unexpected_files` names them), or an error with ``strict``.

    Raises:
        InputFormatError: if the directory is missing, holds no table file, holds both a CSV
            and a Parquet file for one table, a file lacks a required column or is not UTF-8
            text, or (``strict``) holds a file that is not a table file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputFormatError(f"input directory {root} does not exist")
    unknown = unexpected_files(root) if strict else []
    if unknown:
        raise InputFormatError(
            f"{root}: {', '.join(unknown)} is not a table file (expected "
            f"{', '.join(expected_file_names())})"
        )
    sources = []
    for table in TABLES:
        found = [p for p in (root / f"{table}.csv", root / f"{table}.parquet") if p.is_file()]
        if len(found) > 1:
            raise InputFormatError(
                f"{root}: both {found[0].name} and {found[1].name} exist; keep one"
            )
        if found:
            sources.append(read_table_file(found[0], table))
    if not sources:
        expected = ", ".join(f"{t}.csv" for t in TABLES)
        raise InputFormatError(f"{root} holds no table file (expected some of {expected})")
    return sources


def _delimited(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, tab-separated fields) of a headed file, skipping the header."""
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
        for number, text in enumerate(handle, start=1):
            if number == 1 or not text.strip():
                continue
            yield number, [f.strip() for f in text.rstrip("\r\n").split("\t")]


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InputFormatError(f"{path} is missing")
    return path


def _tab_rows(path: Path, names: tuple[str, ...], *, extra_ok: bool = False) -> Iterator[RawRow]:
    """Rows of a headed tab-separated file with fields named ``names`` in order. A row with
    fewer fields (or more, unless ``extra_ok``) is malformed."""
    for line, fields in _delimited(path):
        malformed = None
        if len(fields) < len(names) or (len(fields) > len(names) and not extra_ok):
            malformed = f"row has {len(fields)} fields, expected {len(names)}"
        values = {n: (fields[k] or None) if k < len(fields) else None for k, n in enumerate(names)}
        yield RawRow(line, values, malformed)


def _id_table(
    table: str,
    file: str,
    rows: Iterable[RawRow],
    columns: tuple[str, ...],
    exclude: Iterable[str] = (),
) -> TableSource:
    """A users/items table with one row per distinct id found in ``columns`` of ``rows``,
    attributed to the line of its first sighting; ids in ``exclude`` are left out."""
    first_seen: dict[str, int] = {}
    for row in rows:
        for column in columns:
            value = row.values.get(column)
            if value is not None and value not in first_seen:
                first_seen[value] = row.line
    skip = set(exclude)
    key = "user_id" if table == "users" else "item_id"
    rows_out = [RawRow(line, {key: i}) for i, line in first_seen.items() if i not in skip]
    return TableSource(table, file, rows_out)


def read_lastfm(directory: str | os.PathLike[str]) -> list[TableSource]:
    """Read the HetRec 2011 Last.fm release (``hetrec2011-lastfm-2k``).

    Mapping: ``user_artists.dat`` -> interactions of kind ``view`` with value = listen count
    and unknown timestamp; ``user_taggedartists.dat`` -> interactions of kind ``tag``: a
    user's first tag of an artist is one adoption (value 1) at midnight UTC of its
    day/month/year, attributed to that row's line (an impossible date is passed on as text, so
    validation rejects it with the line; so are dates before 1970); ``user_friends.dat`` ->
    mutual friendships (the file lists each pair in both directions); ``artists.dat``
    (UTF-8) -> items whose category is the artist's most frequent tag in
    ``user_taggedartists.dat`` (ties -> the smaller tag id), named from ``tags.dat``
    (Latin-1), plus the tagged artists missing from ``artists.dat`` (without a category);
    users = every user id seen in ``user_artists.dat`` or ``user_friends.dat``, each
    attributed to the file and line of its first sighting.

    Raises:
        InputFormatError: if one of the five files is missing.
    """
    root = Path(directory)
    listens = _require(root / "user_artists.dat")
    friends = _require(root / "user_friends.dat")
    artists = _require(root / "artists.dat")
    tags = _require(root / "tags.dat")
    tagged = _require(root / "user_taggedartists.dat")

    tag_names = {f[0]: f[1] for _, f in _delimited(tags, encoding="latin-1") if len(f) >= 2}
    tag_counts: dict[str, Counter[int]] = {}
    first_tag: dict[tuple[str | None, ...], tuple[str, RawRow]] = {}
    for line, f in _delimited(tagged):
        if len(f) >= 3 and f[2].isdigit():
            tag_counts.setdefault(f[1], Counter())[int(f[2])] += 1
        order, row = _tag_row(line, f)
        key = (row.values.get("user_id"), row.values.get("item_id"), row.malformed and str(line))
        if key not in first_tag or order < first_tag[key][0]:
            first_tag[key] = (order, row)

    def category(artist_id: str) -> str | None:
        counts = tag_counts.get(artist_id)
        if not counts:
            return None
        best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        return tag_names.get(str(best))

    items = [
        RawRow(line, {"item_id": f[0] or None, "category": category(f[0])})
        for line, f in _delimited(artists)
    ]
    interactions = [
        RawRow(row.line, {**row.values, "kind": "view"}, row.malformed)
        for row in _tab_rows(listens, ("user_id", "item_id", "value"))
    ]
    tag_rows = sorted((row for _, row in first_tag.values()), key=lambda row: row.line)
    friendships = [
        RawRow(row.line, {**row.values, "kind": "friend"}, row.malformed)
        for row in _tab_rows(friends, ("user_id", "friend_id"))
    ]
    users = _id_table("users", listens.name, interactions, ("user_id",))
    listed_items = {row.values["item_id"] or "" for row in items}
    tagged_only = _id_table("items", tagged.name, tag_rows, ("item_id",), listed_items)
    listed = {row.values["user_id"] or "" for row in users.rows}
    friends_only = _id_table("users", friends.name, friendships, ("user_id", "friend_id"), listed)
    return [
        users,
        *([friends_only] if friends_only.rows else []),
        TableSource("items", artists.name, items, ("name", "url", "pictureURL")),
        *([tagged_only] if tagged_only.rows else []),
        TableSource("friendships", friends.name, friendships),
        TableSource("interactions", listens.name, interactions),
        TableSource("interactions", tagged.name, tag_rows, ("tagID",)),
    ]


def _tag_row(line: int, fields: list[str]) -> tuple[str, RawRow]:
    """The ``tag`` interaction of one ``user_taggedartists.dat`` row (``userID artistID tagID
    day month year``) and its sort key: ts = ISO date of that day (UTC), or the raw text when
    it is not a date (sorted after every date)."""
    names = ("user_id", "item_id", "tag", "day", "month", "year")
    if len(fields) != len(names):
        return "~", RawRow(line, {}, f"row has {len(fields)} fields, expected {len(names)}")
    user, item, _, day, month, year = (v or None for v in fields)
    try:
        ts = date(int(year or ""), int(month or ""), int(day or "")).isoformat()
        order = ts.zfill(12)
    except ValueError:
        ts = f"{year}-{month}-{day}"
        order = "~" + ts
    return order, RawRow(line, {"user_id": user, "item_id": item, "kind": "tag", "ts": ts})


#: RecBole ``.inter`` columns read besides the first two (user, item): field name -> ours.
RECBOLE_INTER_FIELDS: Final[dict[str, str]] = {"rating": "value", "timestamp": "ts"}


def read_recbole(
    inter_path: str | os.PathLike[str],
    net_path: str | os.PathLike[str] | None = None,
    *,
    mutual: bool = False,
) -> list[TableSource]:
    """Read RecBole atomic files: ``<name>.inter`` and optionally ``<name>.net``.

    Both are tab-separated with a typed header (``user_id:token item_id:token ...``). In the
    ``.inter`` file the first two columns are the user and the item; a ``rating`` column makes
    every row an interaction of kind ``rating`` with that value, a ``timestamp`` column gives
    its time (epoch seconds, fractions floored); without a rating a row is a ``view`` (value
    1), without a timestamp its time is unknown. In the ``.net`` file the first two columns
    are source and target: RecBole's social links are directed, so each row is a ``follow``
    (source follows target), or a mutual ``friend`` with ``mutual=True`` (a pair listed both
    ways is then one friendship). Other columns are reported as ignored. Users and items are
    the ids seen.

    Raises:
        InputFormatError: if a file is missing or its header has fewer than two columns.
    """
    inter = _require(Path(inter_path))
    header = _atomic_header(inter)[2:]
    fields = [h.split(":", 1)[0] for h in header]
    extra = [RECBOLE_INTER_FIELDS.get(f, f"ignored:{n}") for n, f in enumerate(fields)]
    names = ("user_id", "item_id", *extra)
    inter_extra = tuple(
        h for h, f in zip(header, fields, strict=True) if f not in RECBOLE_INTER_FIELDS
    )
    kind = "rating" if "value" in extra else "view"
    interactions = [
        RawRow(
            row.line,
            {k: v for k, v in row.values.items() if not k.startswith("ignored:")} | {"kind": kind},
            row.malformed,
        )
        for row in _tab_rows(inter, names, extra_ok=True)
    ]
    users = _id_table("users", inter.name, interactions, ("user_id",))
    sources = [users, _id_table("items", inter.name, interactions, ("item_id",))]
    if net_path is not None:
        net = _require(Path(net_path))
        net_extra = tuple(_atomic_header(net)[2:])
        link = "friend" if mutual else "follow"
        friendships = [
            RawRow(row.line, {**row.values, "kind": link}, row.malformed)
            for row in _tab_rows(net, ("user_id", "friend_id"), extra_ok=True)
        ]
        listed = {row.values["user_id"] or "" for row in users.rows}
        net_only = _id_table("users", net.name, friendships, ("user_id", "friend_id"), listed)
        if net_only.rows:
            sources.append(net_only)
        sources.append(TableSource("friendships", net.name, friendships, net_extra))
    sources.append(TableSource("interactions", inter.name, interactions, inter_extra))
    return sources


def _atomic_header(path: Path) -> list[str]:
    """The typed column names of a RecBole atomic file (at least two)."""
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    if len(header) < 2 or not all(":" in h for h in header[:2]):
        shown = " ".join(header)
        raise InputFormatError(
            f"{path}: expected a RecBole header of tab-separated typed columns such as "
            f"'user_id:token item_id:token', got {shown!r}"
        )
    return header
