"""CLI commands ``campaign list`` and ``campaign report ID``: launched campaigns (recorded by
``POST /api/v1/campaigns``) against the adopters the log shows since (docs/online-evaluation.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from socialrec.console import console, fail

if TYPE_CHECKING:
    from graph.snapshot import Snapshot
    from graph.store import GraphStore
    from serving.campaigns import Interval
    from serving.settings import Settings


def _open(settings: Settings) -> GraphStore:
    from graph.store import StoreUnavailableError
    from serving.stores import open_store

    try:
        return open_store(settings.store, settings)
    except (StoreUnavailableError, ValueError) as exc:
        raise fail(f"cannot open the {settings.store} store: {exc}") from exc


def _snapshot(settings: Settings) -> Snapshot:
    from graph.snapshot import read_snapshot

    try:
        return read_snapshot(settings.resolved_snapshot_dir)
    except ValueError as exc:
        raise fail(str(exc)) from exc


def _band(interval: Interval) -> str:
    text = f"{interval.expected:,.1f}  90% [{interval.low90:,.1f}, {interval.high90:,.1f}]"
    if interval.low50 is not None and interval.high50 is not None:
        text += f"  50% [{interval.low50:,.1f}, {interval.high50:,.1f}]"
    return text


def list_campaigns() -> None:
    """The launched campaigns in the configured store, oldest first, each with the adopters
    observed so far; and how often the observed count fell inside the predicted 90% (and 50%)
    interval over the campaigns whose horizon has passed: the reach model checked as used."""
    from serving.campaigns import Campaign, campaign_report, live_from_log
    from serving.settings import get_settings

    settings = get_settings()
    snapshot = _snapshot(settings)
    store = _open(settings)
    try:
        campaigns = [Campaign.from_json(body) for body in store.campaign_bodies()]
        live = live_from_log(snapshot, store)
    finally:
        store.close()
    now = int(time.time())
    reports = [campaign_report(c, live, now=now) for c in campaigns]
    table = Table(title=f"{len(campaigns)} launched campaigns")
    for column in ("id", "name", "item", "kols", "start (UTC)", "predicted", "observed", "in 90%"):
        table.add_column(column)
    for r in reports:
        c = r.campaign
        start = time.strftime("%Y-%m-%d %H:%M", time.gmtime(c.start_ts))
        observed = f"{r.observed_adopters:,}" + ("" if r.complete else " so far")
        table.add_row(
            c.campaign_id,
            c.name or "",
            c.item_id,
            ", ".join(c.kols),
            start,
            _band(c.adopters),
            observed,
            "yes" if r.within_90 else "no",
        )
    console.print(table)
    complete = [r for r in reports if r.complete]
    if complete:
        inside = sum(r.within_90 for r in complete)
        banded = [r for r in complete if r.within_50 is not None]
        line = f"{inside}/{len(complete)} complete campaigns inside their 90% interval"
        if banded:
            line += f", {sum(bool(r.within_50) for r in banded)}/{len(banded)} inside the 50%"
        console.print(line)


def report(
    campaign_id: Annotated[str, typer.Argument(help="The campaign_id POST /campaigns answered.")],
) -> None:
    """A campaign's predicted against observed adopters, per KOL.

    Reads the campaign from the configured store (SOCIALREC_STORE) and the adopters from the
    exported snapshot plus the store's change log since the export.
    """
    from serving.campaigns import Campaign, campaign_report, live_from_log
    from serving.settings import get_settings

    settings = get_settings()
    snapshot = _snapshot(settings)
    store = _open(settings)
    try:
        bodies = store.campaign_bodies(campaign_id)
        if not bodies:
            raise fail(f"unknown campaign {campaign_id!r}; `socialrec campaign list` lists them")
        live = live_from_log(snapshot, store)
    finally:
        store.close()
    result = campaign_report(Campaign.from_json(bodies[0]), live, now=int(time.time()))
    c = result.campaign
    span = "complete" if result.complete else "so far (horizon not passed)"
    table = Table(title=f"Campaign {c.name or c.campaign_id}: item {c.item_id}, {span}")
    for column in ("", "value"):
        table.add_column(column)
    kind = "calibrated" if c.adopters_calibrated else "qualified reach, uncalibrated"
    table.add_row(f"predicted adopters ({kind})", _band(c.adopters))
    table.add_row("observed adopters (KOLs left out)", f"{result.observed_adopters:,}")
    inside = "yes" if result.within_90 else "no"
    if result.within_50 is not None:
        inside += f" (50%: {'yes' if result.within_50 else 'no'})"
    table.add_row("inside the 90% interval", inside)
    table.add_row("adopters no KOL reaches", f"{result.unreached:,}")
    console.print(table)
    per_kol = Table(title="Per KOL (adopters credited to the nearest KOL)")
    for column in ("kol", "predicted alone", "observed", "by hop", "adopted"):
        per_kol.add_column(column)
    for k in result.per_kol:
        hops = ", ".join(f"{h}: {n}" for h, n in k.by_hop.items())
        per_kol.add_row(
            k.user_id,
            f"{k.predicted_alone:,.1f}",
            f"{k.adopters:,}",
            hops,
            "yes" if k.adopted_themselves else "no",
        )
    console.print(per_kol)
    for warning in c.warnings:
        console.print(f"warning: {warning}")


def register(app: typer.Typer) -> None:
    """Add the ``campaign`` group (``list``, ``report``) to ``app``."""
    group = typer.Typer(
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        help="Launched campaigns: predicted against observed adopters.",
    )
    group.command("list")(list_campaigns)
    group.command()(report)
    app.add_typer(group, name="campaign")
