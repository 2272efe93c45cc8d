"""A small input directory with one good and one bad row of each kind (the loading tests of
tests/graph and the ``socialrec load`` tests of tests/socialrec)."""

from __future__ import annotations

from pathlib import Path


def write_small_world(directory: Path) -> Path:
    """Write users, items, friendships and interactions CSVs (four rows rejected) into
    ``directory`` (created); returns it."""
    directory.mkdir()
    (directory / "users.csv").write_text(
        "user_id,region,signup_ts,nickname\nu1,eu,2020-01-01,al\nu2,us,,bo\n,eu,,x\n3,,,cy\n",
        encoding="utf-8",
    )
    (directory / "items.csv").write_text(
        "item_id,category,price,in_stock\ni1,shoes,10,yes\ni2,hats,-3,no\ni3,,,\n",
        encoding="utf-8",
    )
    (directory / "friendships.csv").write_text(
        "user_id,friend_id,kind\nu2,u1,friend\nu1,3,follow\nu1,u1,friend\n", encoding="utf-8"
    )
    (directory / "interactions.csv").write_text(
        "user_id,item_id,kind,value,ts\n"
        "u1,i1,purchase,1,1600000000\n"
        "u1,i2,view,,\n"  # i2 was rejected, so this reference is unknown
        "3,i3,rating,4,2020-09-13T12:26:40Z\n",
        encoding="utf-8",
    )
    return directory
