"""Columnar reading: table sources as batches of Arrow columns for :mod:`graph.validate`.

A :class:`ColumnBatch` holds up to ``batch_size`` consecutive rows of one source: their line
numbers, one Arrow string column per table column (the values of *plain* rows, cleaned as
:mod:`graph.readers` cleans them) and a ``plain`` mask. A row is plain when it is well formed
and every value is empty or printable ASCII (bytes 0x20-0x7e); the validator checks plain rows
with vectorised Arrow compute and hands every other row (:meth:`ColumnBatch.raw`, the exact
:class:`graph.readers.RawRow` the row-by-row readers give) to its per-row checks.

CSV files are split by Arrow's CSV parser, a block of about :data:`BLOCK_BYTES` at a time,
with line numbers counted by numpy. The fast split needs blocks without quote characters or
bare carriage returns; from the first block that has one to the end of the file, rows come
from the ``csv`` module reader (:func:`graph.readers.csv_rows`), which is exact for every
file. Parquet files and the other sources (:func:`graph.readers.read_lastfm`,
:func:`graph.readers.read_recbole`) are read row by row and batched
(:func:`batches_from_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from numpy.typing import NDArray

from graph.readers import ID_COLUMNS, TABLE_COLUMNS, RawRow, TableSource, clean, csv_rows

#: Bytes of CSV read and split at a time (whole lines; a batch never spans two blocks).
BLOCK_BYTES: Final[int] = 16 << 20
_NEWLINE, _CR, _QUOTE, _COMMA = 10, 13, 34, 44


@dataclass(slots=True)
class ColumnBatch:
    """Consecutive rows of one source, column by column (see the module docstring)."""

    lines: NDArray[np.int64]
    #: Column name -> values (null where empty, and on rows that are not plain), in the
    #: order the row-by-row readers give them.
    columns: dict[str, pa.StringArray]
    #: Rows that are well formed and printable ASCII throughout.
    plain: NDArray[np.bool_]
    #: The exact raw form of rows that are not plain (row index -> row).
    exact: dict[int, RawRow]

    def __len__(self) -> int:
        return len(self.lines)

    def raw(self, index: int) -> RawRow:
        """Row ``index`` as the row-by-row readers give it."""
        row = self.exact.get(index)
        if row is not None:
            return row
        return RawRow(
            int(self.lines[index]), {n: c[index].as_py() for n, c in self.columns.items()}
        )


def _is_plain(row: RawRow) -> bool:
    return row.malformed is None and all(
        v is None or (v.isascii() and v.isprintable()) for v in row.values.values()
    )


def batches_from_rows(
    rows: Iterable[RawRow], names: Sequence[str], batch_size: int
) -> Iterator[ColumnBatch]:
    """Batch raw rows (any reader) into column batches of ``batch_size`` rows."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, batch_size)):
        plain = np.fromiter((_is_plain(r) for r in chunk), dtype=np.bool_, count=len(chunk))
        columns = {
            n: pa.array(
                [r.values.get(n) if ok else None for r, ok in zip(chunk, plain, strict=True)],
                pa.string(),
            )
            for n in names
        }
        exact = {i: r for i, (r, ok) in enumerate(zip(chunk, plain, strict=True)) if not ok}
        lines = np.fromiter((r.line for r in chunk), dtype=np.int64, count=len(chunk))
        yield ColumnBatch(lines, columns, plain, exact)


def source_batches(source: TableSource, batch_size: int) -> Iterator[ColumnBatch]:
    """The rows of ``source`` as column batches (fast CSV split where the file allows)."""
    required, optional = TABLE_COLUMNS[source.table]
    if source.path is not None and source.path.suffix == ".csv" and source.header is not None:
        yield from _csv_batches(source.path, source.header, source.table, batch_size)
        return
    names = [n for n in (*required, *optional) if source.header is None or n in source.header]
    yield from batches_from_rows(source.rows, names, batch_size)


@dataclass(slots=True)
class _Lines:
    """The lines of one block: byte offsets ``[start, end)`` (terminator excluded)."""

    start: NDArray[np.int64]
    end: NDArray[np.int64]
    number: NDArray[np.int64]


def _split_lines(data: NDArray[np.uint8], first_line: int) -> _Lines:
    """Line offsets of a block of whole lines (the last one may lack its terminator)."""
    breaks = np.flatnonzero(data == _NEWLINE)
    start = np.concatenate(([0], breaks + 1)).astype(np.int64)
    end = np.concatenate((breaks, [len(data)])).astype(np.int64)
    if start[-1] == len(data):  # the block ends with its last line's terminator
        start, end = start[:-1], end[:-1]
    crlf = (end > start) & (data[np.maximum(end - 1, 0)] == _CR)
    end = end - crlf
    number = first_line + np.arange(len(start), dtype=np.int64)
    return _Lines(start, end, number)


def _segment_counts(mask: NDArray[np.bool_], lines: _Lines) -> NDArray[np.int64]:
    """Per line, how many bytes of ``mask`` are set in ``[start, end)``."""
    where = np.flatnonzero(mask)
    if len(where) == 0:
        return np.zeros(len(lines.start), dtype=np.int64)
    return np.searchsorted(where, lines.end) - np.searchsorted(where, lines.start)


def _blocks(path: Path, offset: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of whole-line blocks of the file from ``offset`` on."""
    with path.open("rb") as handle:
        handle.seek(offset)
        rest = b""
        while True:
            chunk = handle.read(BLOCK_BYTES)
            if not chunk:
                if rest:
                    yield offset, rest
                return
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            yield offset, data[:cut]
            offset += cut
            rest = data[cut:]


def _header_end(path: Path) -> int | None:
    """Byte offset after the header line, or None when the header needs the csv module
    (it has a quote or a bare carriage return)."""
    with path.open("rb") as handle:
        first = handle.readline()
    text = first.rstrip(b"\n")
    if b'"' in text or b"\r" in text.rstrip(b"\r"):
        return None
    return len(first)


def _csv_batches(
    path: Path, header: list[str], table: str, batch_size: int
) -> Iterator[ColumnBatch]:
    required, optional = TABLE_COLUMNS[table]
    wanted = [(n, header.index(n)) for n in (*required, *optional) if n in header]
    offset = _header_end(path)
    line = 2
    if offset is not None:
        for start, block in _blocks(path, offset):
            data = np.frombuffer(block, dtype=np.uint8)
            if (data == _QUOTE).any() or (data == _CR).sum() != block.count(b"\r\n"):
                offset = start
                break  # the csv module reads this block and the rest of the file
            lines = _split_lines(data, line)
            line = int(lines.number[-1]) + 1 if len(lines.number) else line
            yield from _split_block(block, data, lines, header, wanted, batch_size)
        else:
            return
    rows = csv_rows(path, header, table, offset=offset, line=line - 1)
    yield from batches_from_rows(rows, [n for n, _ in wanted], batch_size)


def _split_block(
    block: bytes,
    data: NDArray[np.uint8],
    lines: _Lines,
    header: list[str],
    wanted: list[tuple[str, int]],
    batch_size: int,
) -> Iterator[ColumnBatch]:
    """Column batches of one block (no quotes, no bare carriage returns)."""
    fields = _segment_counts(data == _COMMA, lines) + 1
    odd = (data < 0x20) | (data > 0x7E)  # line terminators are outside [start, end)
    keep = lines.end > lines.start  # the csv module skips empty lines
    well_formed = keep & (fields == len(header))
    plain = well_formed & (_segment_counts(odd, lines) == 0)
    rows = np.flatnonzero(keep)
    good = np.flatnonzero(well_formed)
    if len(good) == len(lines.start):
        parsed = _parse(block, len(header), wanted)
    else:
        body = b"\n".join(
            block[s:e] for s, e in zip(lines.start[good], lines.end[good], strict=True)
        )
        parsed = _parse(body + b"\n", len(header), wanted)
    # Row positions of the parsed (well-formed) lines among the kept lines.
    where = np.searchsorted(rows, good)
    for lo in range(0, len(rows), batch_size):
        hi = min(lo + batch_size, len(rows))
        part = rows[lo:hi]
        first, last = np.searchsorted(where, [lo, hi])
        positions = where[first:last] - lo
        mask = np.zeros(hi - lo, dtype=np.bool_)
        mask[positions] = plain[good[first:last]]
        columns = {}
        for name, _ in wanted:
            got = parsed[name].slice(int(first), int(last - first))
            columns[name] = _clean_plain(_scatter(got, positions, hi - lo), mask, name)
        exact = {
            i: _exact_row(block, lines, int(part[i]), header, wanted)
            for i in np.flatnonzero(~mask).tolist()
        }
        yield ColumnBatch(lines.number[part], columns, mask, exact)


def _parse(body: bytes, width: int, wanted: list[tuple[str, int]]) -> dict[str, pa.Array]:
    """Split well-formed, quote-free lines with Arrow's CSV parser (values as bytes)."""
    names = [f"f{i}" for i in range(width)]
    table = pcsv.read_csv(
        pa.py_buffer(body),
        read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 26, use_threads=True),
        parse_options=pcsv.ParseOptions(
            quote_char=False, double_quote=False, escape_char=False, ignore_empty_lines=True
        ),
        convert_options=pcsv.ConvertOptions(
            column_types={f"f{i}": pa.binary() for _, i in wanted},
            include_columns=[f"f{i}" for _, i in wanted],
            strings_can_be_null=False,
        ),
    )
    return {name: table.column(f"f{i}").combine_chunks() for name, i in wanted}


def _scatter(values: pa.Array, positions: NDArray[np.int64], size: int) -> pa.Array:
    """An array of ``size`` nulls with ``values`` placed at ``positions`` (increasing)."""
    if len(positions) == size:
        return values
    index = np.full(size, -1, dtype=np.int64)
    index[positions] = np.arange(len(positions))
    return values.take(pa.array(index, mask=index < 0))


def _clean_plain(values: pa.Array, plain: NDArray[np.bool_], name: str) -> pa.StringArray:
    """Plain rows' values cleaned as :func:`graph.readers.clean` does (ASCII: only spaces
    strip); other rows null."""
    text = pc.if_else(pa.array(plain), values, pa.scalar(None, pa.binary())).cast(pa.string())
    trimmed = pc.utf8_trim(text, " ")
    kept = text if name in ID_COLUMNS else trimmed
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), kept)


def _exact_row(
    block: bytes, lines: _Lines, index: int, header: list[str], wanted: list[tuple[str, int]]
) -> RawRow:
    """One line as :func:`graph.readers.csv_rows` reads it (quote-free: fields split at
    commas)."""
    text = block[lines.start[index] : lines.end[index]].decode("utf-8", "surrogateescape")
    fields = text.split(",")
    values = {n: clean(fields[i], n) if i < len(fields) else None for n, i in wanted}
    malformed = None
    if len(fields) != len(header):
        malformed = f"row has {len(fields)} fields, the header has {len(header)}"
    return RawRow(int(lines.number[index]), values, malformed)
