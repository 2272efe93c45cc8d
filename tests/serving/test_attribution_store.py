"""Attribution written through a real graph store (every backend of ``store``): deleting a
user purges their serves and the attributions :func:`serving.attribution.attribute_in` wrote."""

from __future__ import annotations

from graph.schema import Interaction, Item, User
from graph.store import GraphStore
from serving.attribution import Touch, attribute_in
from tests.serve_log_rows import A, B, C, flat_attributions, flat_serves


def test_deleting_a_user_purges_their_serves_and_attributions(store: GraphStore) -> None:
    store.upsert_users([User("u1"), User("u2")])
    store.upsert_items([Item("i1"), Item("i2"), Item("i3")])
    store.record_serves([A, B, C])
    store.write_events([], [Interaction("u1", "i3", "click", 1.0, 205)])
    found = attribute_in(store, [Touch("u1", "i3", "click", 205, 1.0)], window_s=3600)
    assert [a.serve_id for a in found] == ["s-b"]
    attribute_in(store, [Touch("u2", "i1", "click", 151, 1.0)], window_s=3600)
    assert store.serve_counts() == (3, 2)
    assert store.delete_user("u1") is True
    assert flat_serves(store) == [C]
    assert [a.user_id for a in flat_attributions(store)] == ["u2"]
    assert store.delete_user("ghost") is False  # absent users purge nothing else
    assert store.serve_counts() == (1, 1)
