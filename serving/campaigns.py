"""Campaign results: record a launched campaign with what the reach model predicted at launch,
and compare it later with the adopters the interaction log shows.

* :func:`launch` estimates the KOLs' reach for the item with the serving reach model (the
  calibrated one when the last backtest left one: adopters within its horizon with 50% / 90%
  predictive intervals; otherwise the Monte-Carlo qualified reach, expected buyers reached,
  with its 95% confidence interval) and returns the :class:`Campaign` record to store.
* :func:`campaign_report` counts the users who adopted the item (the calibration's adoption
  kinds, else purchases) from the launch to the end of the horizon (or now), leaving the KOLs
  out (both sides count the audience: the seeds are subtracted from the predictions), and
  credits each adopter to the KOL *nearest* in the friend graph: the fewest hops along "sees"
  edges from the KOL to the adopter (a multi-source breadth-first search, ties to the KOL
  listed first, at most ``max_hops``). Adopters no KOL reaches are ``unreached`` (organic or
  background adoption): they count in the total, which is what the prediction covers too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np

from graph.schema import INTERACTION_KINDS, User
from graph.snapshot import Snapshot
from graph.store import GraphStore
from serving.live import LiveGraph
from serving.reach import ReachService

#: Hops the report searches from the KOLs for each adopter.
MAX_HOPS: Final[int] = 6


@dataclass(frozen=True, slots=True)
class Interval:
    """A prediction of a count with its interval(s); ``low50``/``high50`` only when calibrated."""

    expected: float
    low90: float
    high90: float
    low50: float | None = None
    high50: float | None = None


@dataclass(frozen=True, slots=True)
class KolPrediction:
    """One KOL's predicted audience as the only KOL (the KOL left out), and its marginal
    reach in the plan: users no other KOL reaches (the KOL included unless another reaches it)."""

    user_id: str
    alone: float
    marginal: float


@dataclass(frozen=True, slots=True)
class Campaign:
    """A launched campaign and what the reach model predicted at launch (audience counts, the
    KOLs left out)."""

    campaign_id: str
    item_id: str
    kols: tuple[str, ...]
    start_ts: int
    created_ts: int
    #: The probability kind that answered (``calibrated``, ``weighted_cascade`` ...).
    probability: str
    #: Interaction kinds that count as adoption.
    kinds: tuple[str, ...]
    #: Seconds after the start the prediction covers (``None``: not bounded by the model).
    horizon_s: int | None
    #: Users reached (Monte-Carlo mean and 95% CI).
    reach: Interval
    #: Adopters: calibrated (50% / 90% predictive intervals) or expected buyers reached.
    adopters: Interval
    adopters_calibrated: bool
    per_kol: tuple[KolPrediction, ...] = ()
    name: str | None = None
    simulations: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Campaign:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            **raw
            | {
                "kols": tuple(raw["kols"]),
                "kinds": tuple(raw["kinds"]),
                "reach": Interval(**raw["reach"]),
                "adopters": Interval(**raw["adopters"]),
                "per_kol": tuple(KolPrediction(**k) for k in raw["per_kol"]),
                "warnings": tuple(raw["warnings"]),
            }
        )


def launch(
    reach: ReachService,
    kols: Sequence[str],
    item_id: str,
    *,
    start_ts: int,
    now: int,
    simulations: int,
    seed: int | None = None,
    name: str | None = None,
    time_limit_s: float | None = None,
) -> Campaign:
    """The record of a campaign launched at ``start_ts`` (see the module doc).

    Raises:
        ValueError: for repeated KOLs or an item the catalogue lacks (and what
            :meth:`ReachService.estimate` raises); ``UnknownEntityError`` for unknown KOLs.
    """
    if len(set(kols)) != len(kols) or not kols:
        raise ValueError(f"kols must be distinct user ids, at least one, got {list(kols)}")
    spec = reach.default_probability()
    est = reach.estimate(
        list(kols),
        probability=spec,
        simulations=simulations,
        seed=seed,
        item_id=item_id,
        time_limit_s=time_limit_s,
    )
    k = float(len(kols))
    prediction = reach.reach_model.predict(spec.kind, "ic", est.reach, est.seeds)
    calibrated = reach.reach_model.calibrated
    warnings: list[str] = []
    if prediction is not None and calibrated is not None:
        adopters = Interval(
            max(prediction.expected - k, 0.0),
            max(prediction.low90 - k, 0.0),
            max(prediction.high90 - k, 0.0),
            max(prediction.low50 - k, 0.0),
            max(prediction.high50 - k, 0.0),
        )
        kinds, horizon = tuple(calibrated.kinds), int(calibrated.horizon_s)
        warnings += calibrated.warnings(num_seeds=len(kols))
    else:
        qualified = est.qualified
        assert qualified is not None  # item_id was given
        adopters = Interval(qualified.mean, max(qualified.ci_low, 0.0), qualified.ci_high)
        kinds, horizon = ("purchase",), None
        warnings.append(
            "no calibrated reach model: adopters are the Monte-Carlo expected buyers reached "
            "(qualified reach) with a 95% simulation interval, which leaves out model error"
        )
    return Campaign(
        campaign_id=uuid.uuid4().hex,
        item_id=item_id,
        kols=tuple(kols),
        start_ts=start_ts,
        created_ts=now,
        probability=spec.kind,
        kinds=kinds,
        horizon_s=horizon,
        reach=Interval(
            est.reach.mean - k, max(est.reach.ci_low - k, 0.0), max(est.reach.ci_high - k, 0.0)
        ),
        adopters=adopters,
        adopters_calibrated=prediction is not None,
        per_kol=tuple(
            KolPrediction(s.seed, s.alone.mean - 1.0, s.marginal.mean) for s in est.per_seed or ()
        ),
        name=name,
        simulations=est.simulations,
        warnings=tuple(warnings),
    )


def live_from_log(snapshot: Snapshot, store: GraphStore) -> LiveGraph:
    """``snapshot`` with the store's change log since its export applied (registered users,
    interactions on snapshot items, deletions): the graph a server on both would serve, for
    reports outside a server (the CLI)."""
    live = LiveGraph(snapshot)
    after = int(snapshot.meta.get("change_seq", 0))
    while True:
        page = store.changes_since(after, 100)
        for change in page.changes:
            if change.deleted_user is not None:
                live.delete_user(change.deleted_user)
            live.add_users(change.users)
            rows = [r for r in change.interactions if r.item_id in snapshot.item_index]
            live.add_users(User(r.user_id) for r in rows if not live.has_user(r.user_id))
            live.add_interactions(rows)
        if page.upto >= page.head or page.upto <= after:
            return live
        after = page.upto


def observed_adopters(
    live: LiveGraph, item_id: str, kinds: Sequence[str], since_ts: int, until_ts: int
) -> dict[str, int]:
    """Users (not deleted) whose first ``kinds`` interaction with ``item_id`` in
    ``[since_ts, until_ts]`` is in the log, with its time."""
    first: dict[str, int] = {}
    snap = live.snapshot
    item = snap.item_index.get(item_id)
    if item is not None:
        codes = [INTERACTION_KINDS.index(k) for k in kinds]
        rows = np.flatnonzero(
            (snap.inter_item == item)
            & np.isin(snap.inter_kind, codes)
            & (snap.inter_ts >= since_ts)
            & (snap.inter_ts <= until_ts)
        )
        for row in rows:
            user, ts = snap.user_ids[int(snap.inter_user[row])], int(snap.inter_ts[row])
            first[user] = min(ts, first.get(user, ts))
    for r in live.live_interactions():
        if r.item_id == item_id and r.kind in kinds and since_ts <= r.ts <= until_ts:
            first[r.user_id] = min(r.ts, first.get(r.user_id, r.ts))
    return {user: ts for user, ts in first.items() if not live.is_deleted(user)}


def nearest_kols(
    live: LiveGraph, kols: Sequence[str], targets: set[str], max_hops: int = MAX_HOPS
) -> dict[str, tuple[str, int]]:
    """For each of ``targets`` a KOL reaches within ``max_hops`` hops along "sees" edges (a
    user who sees the KOL is 1 hop away), ``(kol, hops)`` of the nearest (ties: the KOL
    listed first)."""
    owner: dict[str, tuple[str, int]] = {kol: (kol, 0) for kol in reversed(kols)}
    frontier = list(kols)
    found = {t: owner[t] for t in targets if t in owner}
    for hop in range(1, max_hops + 1):
        if not frontier or len(found) == len(targets):
            break
        nxt: list[str] = []
        for user in frontier:  # in KOL order, so the first KOL wins a tie
            kol = owner[user][0]
            for follower in live.followers(user):
                if follower.user_id not in owner:
                    owner[follower.user_id] = (kol, hop)
                    nxt.append(follower.user_id)
                    if follower.user_id in targets:
                        found[follower.user_id] = (kol, hop)
        frontier = nxt
    return found


@dataclass(frozen=True, slots=True)
class KolResult:
    """One KOL's predicted audience and the adopters credited to them (by hops)."""

    user_id: str
    predicted_alone: float
    predicted_marginal: float
    adopters: int
    by_hop: dict[int, int]
    adopted_themselves: bool


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """A campaign's prediction against the adopters observed from ``since_ts`` to ``until_ts``."""

    campaign: Campaign
    since_ts: int
    until_ts: int
    #: Whether the horizon has passed (the observation is complete).
    complete: bool
    observed_adopters: int
    within_90: bool
    within_50: bool | None
    per_kol: tuple[KolResult, ...]
    unreached: int


def campaign_report(
    campaign: Campaign, live: LiveGraph, *, now: int, max_hops: int = MAX_HOPS
) -> CampaignReport:
    """Compare ``campaign``'s prediction with the log (see the module doc)."""
    end = now if campaign.horizon_s is None else min(now, campaign.start_ts + campaign.horizon_s)
    adopters = observed_adopters(live, campaign.item_id, campaign.kinds, campaign.start_ts, end)
    kols = set(campaign.kols)
    audience = {u for u in adopters if u not in kols}
    credited = nearest_kols(live, campaign.kols, audience, max_hops)
    predicted = {k.user_id: k for k in campaign.per_kol}
    per_kol = []
    for kol in campaign.kols:
        hops = [h for k, h in credited.values() if k == kol]
        guess = predicted.get(kol)
        per_kol.append(
            KolResult(
                user_id=kol,
                predicted_alone=0.0 if guess is None else guess.alone,
                predicted_marginal=0.0 if guess is None else guess.marginal,
                adopters=len(hops),
                by_hop={h: hops.count(h) for h in sorted(set(hops))},
                adopted_themselves=kol in adopters,
            )
        )
    count = len(audience)
    band = campaign.adopters
    return CampaignReport(
        campaign=campaign,
        since_ts=campaign.start_ts,
        until_ts=end,
        complete=campaign.horizon_s is not None and now >= campaign.start_ts + campaign.horizon_s,
        observed_adopters=count,
        within_90=band.low90 <= count <= band.high90,
        within_50=None
        if band.low50 is None or band.high50 is None
        else band.low50 <= count <= band.high50,
        per_kol=tuple(per_kol),
        unreached=count - len(credited),
    )
