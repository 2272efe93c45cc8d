"""Social-aware recommendation: strategy choice, filters, social-proof boost and reasons.

Strategy per user (``Recommendation.strategy``):

* ``personalized``: the user has interactions; their vector is the model's, or the one folded
  in from live events (:func:`serving.scoring.fold_in`).
* ``social_cold_start``: no interactions but friends who have some; the vector is the mean of
  those friends' vectors and friends' interactions add social proof.
* ``popular``: no usable signal (no history, no active friends, or a user unknown to the
  snapshot when the caller asks for the fallback); items ranked by distinct users, optionally
  within a region.

Scores of the first two are inner products plus the social-proof boost
(:func:`serving.scoring.social_boost`, strength ``social_boost``). Reasons come from the
graph only: ``friends_purchased`` lists served friends who interacted with the item (most
recent first, at most ``max_reason_users``), ``similar_to`` the user's own items whose
embeddings are closest to it (cosine >= ``similar_min_cosine``, at most ``max_similar``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from graph.snapshot import Snapshot
from serving.candidates import CandidateCache
from serving.live import FriendActivity, LiveGraph
from serving.recommender import RecommenderService, UnknownUserError
from serving.scoring import fold_in, social_boost

Strategy = Literal["personalized", "social_cold_start", "popular"]
#: Default cosine similarity above which a history item explains a recommendation.
SIMILAR_MIN_COSINE: Final[float] = 0.5


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Catalogue filters; ``None`` means no constraint. Items without a price never pass a
    price bound."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock_only: bool = False

    def mask(self, snapshot: Snapshot) -> NDArray[np.bool_]:
        """Boolean ``[num_items]``: which items pass.

        Raises:
            ValueError: if ``category`` is not in the catalogue or the price bounds cross.
        """
        keep = np.ones(snapshot.num_items, dtype=np.bool_)
        if self.category is not None:
            if self.category not in snapshot.categories:
                raise ValueError(
                    f"category must be a catalogue category (e.g. {snapshot.categories[:5]}), "
                    f"got {self.category!r}"
                )
            keep &= snapshot.item_category == snapshot.categories.index(self.category)
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError(
                f"min_price must be <= max_price, got {self.min_price} > {self.max_price}"
            )
        price = snapshot.item_price
        if self.min_price is not None:
            keep &= np.nan_to_num(price, nan=-np.inf) >= self.min_price
        if self.max_price is not None:
            keep &= np.nan_to_num(price, nan=np.inf) <= self.max_price
        if self.in_stock_only:
            keep &= snapshot.item_in_stock
        return keep


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an item is shown: ``friends_purchased`` (``count``, ``user_ids``), ``similar_to``
    (``item_ids``), ``popular`` (``count`` = distinct users); in feeds also ``author``
    (``relation`` of the viewer to the post's author) and ``frequency_capped`` (``count`` =
    recent impressions)."""

    type: Literal["friends_purchased", "similar_to", "popular", "author", "frequency_capped"]
    count: int | None = None
    user_ids: tuple[str, ...] | None = None
    item_ids: tuple[str, ...] | None = None
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class RankedItem:
    item_id: str
    score: float
    model_score: float
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    user_id: str
    strategy: Strategy
    items: list[RankedItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UserScores:
    """Scores of every item for one user (snapshot item order)."""

    strategy: Strategy
    model: NDArray[np.float64]
    final: NDArray[np.float64]
    friend_counts: NDArray[np.float64]
    activity: FriendActivity


@dataclass(frozen=True, slots=True)
class _Ranked:
    """The chosen items of one request, best first, with their scores."""

    strategy: Strategy
    items: NDArray[np.int64]
    model: NDArray[np.float64]
    final: NDArray[np.float64]
    activity: FriendActivity


def _best(pool: NDArray[np.int64], final: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Positions in ``pool`` of its ``k`` best ``final`` scores, best first (ties: item index)."""
    k = min(k, len(pool))
    if k == 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-final, k - 1)[:k]
    return top[np.lexsort((pool[top], -final[top]))]


class SocialRecommender:
    """Recommendations over a :class:`LiveGraph` with embeddings from a
    :class:`RecommenderService` (whose item order must be the snapshot's, as
    :meth:`RecommenderService.from_artifacts` builds it).

    Args:
        live: The served graph.
        rec: Embeddings to score with.
        social_boost: Strength of the social-proof boost, ``>= 0``.
        max_reason_users: Most friend ids listed in a ``friends_purchased`` reason.
        similar_min_cosine: Least cosine similarity for a ``similar_to`` reason.
        max_similar: Most item ids listed in a ``similar_to`` reason.
        candidates: Items per user in the candidate stage (:mod:`serving.candidates`);
            0 scores the whole catalogue on every request.
        candidate_users: Most users whose candidate stage is kept (least recently used go).
    """

    def __init__(
        self,
        live: LiveGraph,
        rec: RecommenderService,
        *,
        social_boost: float = 0.1,
        max_reason_users: int = 5,
        similar_min_cosine: float = SIMILAR_MIN_COSINE,
        max_similar: int = 3,
        candidates: int = 256,
        candidate_users: int = 50_000,
    ) -> None:
        if social_boost < 0:
            raise ValueError(f"social_boost must be >= 0, got {social_boost}")
        if max_reason_users < 1:
            raise ValueError(f"max_reason_users must be >= 1, got {max_reason_users}")
        if candidates < 0 or candidate_users < 1:
            raise ValueError(
                f"candidates must be >= 0 and candidate_users >= 1, got {candidates} "
                f"and {candidate_users}"
            )
        ids = live.snapshot.item_ids
        if rec.item_ids is not ids and rec.item_ids != ids:
            raise ValueError(
                "recommender item order must equal the snapshot's; build it with "
                "RecommenderService.from_artifacts(snapshot, checkpoint)"
            )
        self.live = live
        self.rec = rec
        self.social_boost = social_boost
        self.max_reason_users = max_reason_users
        self.similar_min_cosine = similar_min_cosine
        self.max_similar = max_similar
        self.candidates = candidates
        self.candidate_users = candidate_users
        self._stages = CandidateCache(candidates, candidate_users) if candidates else None

    # -- vectors ------------------------------------------------------------------------------

    def _own_vector(self, user_id: str) -> torch.Tensor | None:
        """The vector of a user with history: folded-in, else the model's, else folded from
        scratch (``None`` without history)."""
        vector = self.live.user_vector(user_id)
        if vector is not None:
            return vector
        history = self.live.history(user_id)
        if len(history) == 0:
            return None
        row = self.rec.user_position(user_id)
        if row is not None:
            return self.rec.user_embeddings[row]
        return fold_in(self.rec.item_embeddings[torch.from_numpy(history.items)])

    def user_vector(self, user_id: str) -> tuple[torch.Tensor | None, Strategy]:
        """The vector used to score items for a served user, and the strategy it implies.

        Raises:
            UnknownUserError: if ``user_id`` is not served.
        """
        if not self.live.has_user(user_id):
            raise UnknownUserError(user_id)
        return self._served_vector(user_id)

    def _served_vector(self, user_id: str) -> tuple[torch.Tensor | None, Strategy]:
        """:meth:`user_vector` of a user known to be served (subclasses change this)."""
        own = self._own_vector(user_id)
        if own is not None:
            return own, "personalized"
        friends = [
            v
            for f in sorted({n.user_id for n in self.live.following(user_id)})
            if (v := self._own_vector(f)) is not None
        ]
        if friends:
            return torch.stack(friends).mean(dim=0), "social_cold_start"
        return None, "popular"

    def fold_in_user(self, user_id: str, new_items: list[int]) -> None:
        """Update ``user_id``'s vector after new interactions with ``new_items`` (indices).

        A user the model knows keeps their learned vector weighted by their earlier history
        size; a new user gets the mean of their items' vectors.
        """
        if not new_items:
            return
        rec = self.rec
        previous = len(self.live.history(user_id)) - len(new_items)
        base = self.live.user_vector(user_id)
        row = rec.user_position(user_id)
        if base is None and row is not None and previous > 0:
            base = rec.user_embeddings[row]
        if base is None:
            items = torch.from_numpy(self.live.history(user_id).items)
            vector = fold_in(rec.item_embeddings[items])
        else:
            vector = fold_in(
                rec.item_embeddings[torch.tensor(new_items, dtype=torch.long)], base, previous
            )
        self.live.set_user_vector(user_id, vector)

    # -- scores -------------------------------------------------------------------------------

    def scores(self, user_id: str, *, region: str | None = None) -> UserScores:
        """Model and boosted scores of every item for ``user_id``; unserved users (and
        users without signal) get popularity (``log1p`` of distinct users), within
        ``region`` if given."""
        return self._scores(user_id, self.live.has_user(user_id), region)

    def _scores(self, user_id: str, known: bool, region: str | None) -> UserScores:
        """:meth:`scores`, given whether ``user_id`` is served."""
        vector, strategy = self._served_vector(user_id) if known else (None, "popular")
        num_items = self.live.snapshot.num_items
        activity = self.live.friend_activity(user_id) if known else FriendActivity.empty(num_items)
        counts = activity.counts
        if vector is None:
            pop = (
                self.live.region_popularity(region)
                if region is not None
                else self.live.popularity()
            )
            model = np.log1p(pop)
            return UserScores("popular", model, model.copy(), counts, activity)
        # numpy's matrix-vector product: the same BLAS call without torch's dispatch (~30%
        # faster on the serving path).
        model = (self.rec.item_embeddings.numpy() @ vector.numpy()).astype(np.float64)
        return UserScores(
            strategy, model, social_boost(model, counts, self.social_boost), counts, activity
        )

    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        exclude_seen: bool = True,
        item_filter: ItemFilter | None = None,
        fallback_popular: bool = False,
        region: str | None = None,
    ) -> Recommendation:
        """The ``k`` best items for ``user_id`` with reasons, best first (ties: item index).

        Args:
            user_id: The user.
            k: How many items, ``>= 1``.
            exclude_seen: Leave out items the user interacted with.
            item_filter: Catalogue filters.
            fallback_popular: Serve popular items to users not served (else 404).
            region: Region for popularity, used only by the ``popular`` strategy.

        Raises:
            ValueError: if ``k < 1`` or a filter is invalid.
            UnknownUserError: if ``user_id`` is not served and ``fallback_popular`` is off.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        snapshot = self.live.snapshot
        keep = (item_filter or ItemFilter()).mask(snapshot)
        known = self.live.has_user(user_id)
        if not known and not fallback_popular:
            raise UnknownUserError(user_id)
        history = self.live.history(user_id)
        if exclude_seen:
            keep[history.items] = False
        ranked = self._rank_staged(user_id, len(history), keep, k)
        if ranked is None:
            scored = self._scores(user_id, known, region)
            row = self._staged_row(user_id, len(history))
            if scored.strategy == "personalized" and row is not None and self._stages is not None:
                self._stages.remember(row, scored.model)
            pool = np.flatnonzero(keep)
            best = _best(pool, scored.final[pool], k)
            ranked = _Ranked(
                scored.strategy,
                pool[best],
                scored.model[pool[best]],
                scored.final[pool[best]],
                scored.activity,
            )
        similar = self._similar(ranked.items, np.unique(history.items))
        items = []
        for n, item in enumerate(ranked.items.tolist()):
            reasons: list[Reason] = []
            who = ranked.activity.get(item)
            if who:
                friends = tuple(f for _, f in who[: self.max_reason_users])
                reasons.append(Reason("friends_purchased", count=len(who), user_ids=friends))
            if similar[n]:
                reasons.append(Reason("similar_to", item_ids=similar[n]))
            if ranked.strategy == "popular":
                count = round(float(np.expm1(ranked.model[n])))
                reasons.append(Reason("popular", count=count))
            items.append(
                RankedItem(
                    snapshot.item_ids[item],
                    float(ranked.final[n]),
                    float(ranked.model[n]),
                    tuple(reasons),
                )
            )
        return Recommendation(user_id, ranked.strategy, items)

    def _staged_row(self, user_id: str, history_size: int) -> int | None:
        """The model row of a user served with the model's own vector (the users that
        :mod:`serving.candidates` applies to), else ``None``."""
        if self._stages is None or history_size == 0:
            return None
        row = self.rec.user_position(user_id)
        if row is None or self.live.user_vector(user_id) is not None:
            return None
        return row

    def _rank_staged(
        self,
        user_id: str,
        history_size: int,
        keep: NDArray[np.bool_],
        k: int,
    ) -> _Ranked | None:
        """The exact top ``k`` from the user's candidate stage, or ``None`` when the stage
        does not apply or cannot prove its answer (the caller scores the catalogue)."""
        row = self._staged_row(user_id, history_size)
        stage = None if row is None or self._stages is None else self._stages.get(row)
        if row is None or stage is None:
            return None
        activity = self.live.friend_activity(user_id)
        in_pool = np.zeros(len(keep), dtype=np.bool_)
        in_pool[stage.items] = True
        in_pool[activity.touched] = True
        pool = np.flatnonzero(in_pool & keep)
        if len(pool) < k:
            return None
        vector = self.rec.user_embeddings.numpy()[row]
        model = (self.rec.item_embeddings.numpy()[pool] @ vector).astype(np.float64)
        final = model.copy()
        # Friend counts of the pool: touched items are ascending, like the pool.
        at = np.searchsorted(pool, activity.touched)
        found = at < len(pool)
        found[found] = pool[at[found]] == activity.touched[found]
        if self.social_boost > 0 and found.any():
            boost = self.social_boost * stage.scale * np.log1p(activity.touched_counts[found])
            final[at[found]] += boost
        best = _best(pool, final, k)
        # Items outside the pool score at most the floor; rounding of the two products
        # (catalogue vs pool rows) is far below this margin.
        if final[best[-1]] <= stage.floor + 1e-5 * max(1.0, abs(stage.floor)):
            return None
        return _Ranked("personalized", pool[best], model[best], final[best], activity)

    def _similar(
        self, items: NDArray[np.int64], history: NDArray[np.int64]
    ) -> list[tuple[str, ...]]:
        """For each of ``items``: the closest ``history`` items (sorted distinct indices) by
        cosine, most similar first (ties: smaller index)."""
        if len(history) == 0 or self.max_similar < 1:
            return [() for _ in items]
        unit = self.rec.item_directions.numpy()
        sims = unit[items] @ unit[history].T
        ok = (sims >= self.similar_min_cosine) & (history[None, :] != items[:, None])
        # A stable sort of each row keeps equal similarities in history (= index) order.
        order = np.argsort(np.where(ok, -sims, np.inf), axis=1, kind="stable")
        order = order[:, : self.max_similar]
        chosen = history[order].tolist()
        listed = np.take_along_axis(ok, order, axis=1).tolist()
        ids = self.live.snapshot.item_ids
        return [
            tuple(ids[j] for j, keep in zip(row, flags, strict=True) if keep)
            for row, flags in zip(chosen, listed, strict=True)
        ]
