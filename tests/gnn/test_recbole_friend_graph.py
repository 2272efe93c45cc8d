"""A RecBole ``.net`` of directed links listed both ways trains the social model on the same
friend graph whether it loads as two follows or as one mutual friendship."""

from __future__ import annotations

from pathlib import Path

import torch

from gnn.data import normalized_social_adjacency
from graph.export import export_snapshot
from graph.load import load_tables
from graph.readers import read_recbole
from graph.sqlite_store import SQLiteStore


def test_recbole_follows_both_ways_train_on_the_friend_graph_of_mutual_links(
    tmp_path: Path,
) -> None:
    """Directed links listed both ways (Last.fm's .net) load as two follows by default and as
    one friendship with ``mutual``: the social model's friend graph is the same."""
    inter = tmp_path / "x.inter"
    inter.write_text("user_id:token\titem_id:token\n1\t9\n2\t9\n3\t9\n", encoding="utf-8")
    net = tmp_path / "x.net"
    net.write_text("source_id:token\ttarget_id:token\n1\t2\n2\t1\n2\t3\n3\t2\n", encoding="utf-8")
    graphs = []
    for mutual in (False, True):
        store = SQLiteStore(tmp_path / f"{mutual}.sqlite3")
        load_tables(store, read_recbole(inter, net, mutual=mutual), tmp_path / f"r{mutual}")
        kinds = {f.kind for page in store.iter_friendships() for f in page}
        assert kinds == {"friend" if mutual else "follow"}
        snap = export_snapshot(store, tmp_path / f"s{mutual}")
        store.close()
        graphs.append(
            normalized_social_adjacency(
                torch.from_numpy(snap.social_src), torch.from_numpy(snap.social_dst), snap.num_users
            ).to_dense()
        )
    assert torch.equal(graphs[0], graphs[1])
