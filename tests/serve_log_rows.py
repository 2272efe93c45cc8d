"""Serves shared by the serve-log tests (tests/graph: the store contract; tests/serving: the
attribution written through a store), and readers that flatten the log's pages."""

from __future__ import annotations

from graph.serve_log import Attribution, Serve, ServeLog

A = Serve("s-a", "u1", 100, "rec", ("i1", "i2", "i3"), "m@1")
B = Serve("s-b", "u1", 200, "feed", ("i3",), "m@1", "exp", "treatment")
C = Serve("s-c", "u2", 150, "rec", ("i1",), None, "exp", "control")


def flat_serves(store: ServeLog, since: int = 0, batch_size: int = 10_000) -> list[Serve]:
    """Every serve from ``since`` on, read in pages of ``batch_size``."""
    return [s for page in store.iter_serves(since, batch_size) for s in page]


def flat_attributions(store: ServeLog, since: int = 0, batch: int = 10_000) -> list[Attribution]:
    """Every attribution from ``since`` on, read in pages of ``batch``."""
    return [a for page in store.iter_attributions(since, batch) for a in page]
