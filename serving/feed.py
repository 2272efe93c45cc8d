"""Feed ranking: order a caller's candidate posts for one user.

Each candidate's score is::

    score = z(item score) + author_weight * closeness(viewer, author)

``z`` standardises the user's (socially boosted) item scores over the candidates, so the weight
means "standard deviations of item score"; candidates whose item the model does not know get
``z = -3``. ``closeness`` is :data:`serving.scoring.CLOSENESS` for a mutual friend, an
account the viewer follows, or a friend of a friend, else 0: a friend's post outranks a
stranger's with the same item score. Relations through a private user count as none.

Frequency cap: a candidate whose item or post was shown to the user at least ``cap`` times in
the last ``window_s`` seconds (impressions from ``POST /events``) is demoted below every
uncapped candidate (``mode="demote"``) or removed (``mode="drop"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from serving.events import ImpressionLog
from serving.scoring import CLOSENESS, capped, standardize
from serving.social import Reason, SocialRecommender, Strategy

UNKNOWN_ITEM_Z: Final[float] = -3.0
CapMode = Literal["demote", "drop"]


@dataclass(frozen=True, slots=True)
class Candidate:
    item_id: str
    author_id: str | None = None
    post_id: str | None = None


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    """A candidate with its score parts; ``index`` is its position in the request."""

    index: int
    candidate: Candidate
    score: float
    item_score: float | None
    closeness: float
    impressions: int
    capped: bool
    reasons: tuple[Reason, ...]


def relations(social: SocialRecommender, user_id: str, authors: set[str]) -> dict[str, str]:
    """The viewer's relation to each author: ``friend``, ``follow`` or ``friend_of_friend``
    (absent: none). Deleted users have no relations, and neither have private ones (a private
    viewer, author or friend in between: docs/privacy.md)."""
    if social.live.is_private(user_id):
        return {}
    direct = {n.user_id: n.kind for n in social.live.following(user_id)}
    out = {a: direct[a] for a in authors if a in direct}
    rest = authors - set(out) - {user_id}
    if rest:
        out.update({a: "friend_of_friend" for a in social.live.seen_by_any(direct, rest)})
    return out


def rank_feed(
    social: SocialRecommender,
    impressions: ImpressionLog,
    user_id: str,
    candidates: Sequence[Candidate],
    *,
    now: int,
    author_weight: float,
    cap: int,
    window_s: int,
    mode: CapMode = "demote",
    region: str | None = None,
) -> tuple[Strategy, list[RankedCandidate]]:
    """Rank ``candidates`` for ``user_id`` (unknown users: popular items, never an error).

    Returns:
        The strategy used for item scores, and the ranked candidates (best first; ties keep
        the request order).

    Raises:
        ValueError: if ``author_weight < 0``, ``cap < 1`` or ``window_s < 0``.
    """
    if author_weight < 0:
        raise ValueError(f"author_weight must be >= 0, got {author_weight}")
    if window_s < 0:
        raise ValueError(f"window_s must be >= 0, got {window_s}")
    scored = social.scores(user_id, region=region)
    index = social.live.snapshot.item_index
    rows = [index.get(c.item_id) for c in candidates]
    raw = np.array([scored.final[r] if r is not None else np.nan for r in rows], dtype=np.float64)
    z = standardize(np.where(np.isnan(raw), -np.inf, raw))
    z[np.isnan(raw)] = UNKNOWN_ITEM_Z
    authors = {c.author_id for c in candidates if c.author_id is not None}
    relation = relations(social, user_id, authors) if authors else {}
    item_seen, post_seen = impressions.counts(user_id, now - window_s)
    shown = np.array(
        [
            max(
                item_seen.get(c.item_id, 0),
                post_seen.get(c.post_id, 0) if c.post_id is not None else 0,
            )
            for c in candidates
        ],
        dtype=np.int64,
    )
    is_capped = capped(shown, cap)
    touched = set(scored.activity.touched.tolist())  # items friends touched: the rest have none
    ranked: list[RankedCandidate] = []
    for n, c in enumerate(candidates):
        rel = relation.get(c.author_id) if c.author_id is not None else None
        closeness = CLOSENESS[rel] if rel is not None else 0.0
        reasons: list[Reason] = []
        row = rows[n]
        who = scored.activity.get(row) if row is not None and row in touched else None
        if who:
            friends = tuple(f for _, f in who[: social.max_reason_users])
            reasons.append(Reason("friends_purchased", count=len(who), user_ids=friends))
        if rel is not None:
            reasons.append(Reason("author", relation=rel))
        if is_capped[n]:
            reasons.append(Reason("frequency_capped", count=int(shown[n])))
        ranked.append(
            RankedCandidate(
                index=n,
                candidate=c,
                score=float(z[n] + author_weight * closeness),
                item_score=None if row is None else float(scored.final[row]),
                closeness=closeness,
                impressions=int(shown[n]),
                capped=bool(is_capped[n]),
                reasons=tuple(reasons),
            )
        )
    if mode == "drop":
        ranked = [r for r in ranked if not r.capped]
    ranked.sort(key=lambda r: (r.capped, -r.score, r.index))
    return scored.strategy, ranked
