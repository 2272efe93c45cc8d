"""Row progress: plain lines when the output is not a terminal (a file, a pipe, a CI log)."""

from __future__ import annotations

import pytest

import socialrec.console as console_module
from socialrec.console import console, row_progress


def test_row_progress_prints_plain_lines_off_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not console.is_terminal  # pytest captures the output
    clock = iter([0.0, 0.0, 1.0, 2.0, 12.0, 13.0])
    monkeypatch.setattr(console_module.time, "monotonic", lambda: next(clock))
    with row_progress() as advance:
        advance("users", 100)  # a table's first rows: printed
        advance("users", 100)  # 1 s later: not printed
        advance("items", 5)  # a new table: printed
        advance("users", 50)  # 10 s after the last line: printed
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "users: 100 rows, 0s",
        "items: 5 rows, 2s",
        "users: 250 rows, 12s",
        "users: 250 rows, 13s (done)",
        "items: 5 rows, 13s (done)",
    ]
