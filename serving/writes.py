"""Every change to the served state, in one place: the holder of the state being served, its
write lock, and the writes that run under that lock (live events, user deletion, and reload
with its atomic swap). The change-log sync (:mod:`serving.sync`) takes the same lock through
:meth:`StateHolder.write` and applies other replicas' writes with :func:`apply_change`, the
functions the local writes use, so no write, reload or sync page falls between another's
steps.

Requests read :attr:`StateHolder.state` without the lock: a reload replaces the state in one
assignment (requests already running keep the one they started with), and its only mutable
part, ``live``, has a lock of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from graph.schema import Interaction, User
from graph.store import Change, GraphStore, StoreUnavailableError
from serving.attribution import Credited, credit_in, touches
from serving.events import RawValues, ValidatedBatch, validate_events, write_batch
from serving.settings import Settings
from serving.state import AppState, load_state, settle_heap

T = TypeVar("T")


class StateNotLoadedError(RuntimeError):
    """No state is being served: before the lifespan has loaded one, or after it ended."""


class StateHolder:
    """The state being served and the one lock that serialises changes to it."""

    def __init__(self) -> None:
        self._state: AppState | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> AppState | None:
        """The state being served now (``None`` while nothing is loaded); read without the lock."""
        return self._state

    def serve(self, state: AppState | None) -> None:
        """Serve ``state`` from now on (``None``: nothing), e.g. the lifespan's first load."""
        with self._lock:
            self._state = state

    def write(self, change: Callable[[AppState], T]) -> T:
        """Run ``change`` on the state being served while holding the write lock: the state
        current now, not one a reload is replacing.

        Raises:
            StateNotLoadedError: if no state is being served.
        """
        with self._lock:
            state = self._state
            if state is None:
                raise StateNotLoadedError("the model is not loaded")
            return change(state)

    def reload(self, settings: Settings) -> AppState:
        """Load the artifacts ``settings`` name, re-apply the live changes of the state being
        served (:func:`serving.state.load_state` with ``carry``), and swap the new state in.

        Raises:
            StateLoadError: if the new artifacts cannot be loaded (the old state stays).
            StateNotLoadedError: if no state is being served.
        """

        def swap(old: AppState) -> AppState:
            new = load_state(
                settings,
                store=old.store,
                impressions=old.impressions,
                serves=old.serves,
                carry=old,
            )
            self._state = new
            return new

        new = self.write(swap)
        settle_heap()
        return new


def ingest_events(
    state: AppState,
    users: Sequence[RawValues],
    events: Sequence[RawValues],
    serve_ids: Sequence[str | None],
    *,
    now: int,
    attribution_window_s: int,
    impression_window_s: int,
) -> tuple[ValidatedBatch, list[Credited]]:
    """Validate ``users`` and ``events`` like the loader, write the accepted ones to the store
    (attributing interactions to serves when any event names an item), record impressions in
    the impression log (pruning those older than ``impression_window_s``), and apply the
    accepted rows to serving. Run it under the write lock (:meth:`StateHolder.write`).

    Raises:
        StoreUnavailableError: if the server has no store or it cannot be written (nothing
            is applied).
    """
    if state.store is None:
        raise StoreUnavailableError("no graph store is configured for this server")
    attributing = state.serves is not None and any(e.get("item_id") for e in events)
    if attributing and state.serves is not None:
        state.serves.flush()  # serves queued so far are in the store for last touch

    def validate_and_write(store: GraphStore) -> tuple[ValidatedBatch, list[Credited]]:
        batch = validate_events(store, users, events, now=now)
        write_batch(store, batch)
        if not attributing:
            return batch, []
        given = touches(events, serve_ids, batch.interactions, batch.impressions, now=now)
        return batch, credit_in(store, given, attribution_window_s)

    batch, attributed = state.store.call(validate_and_write)
    if state.impressions is not None and batch.impressions:
        state.impressions.record(batch.impressions)
        state.impressions.prune(now - impression_window_s)
    apply_write(state, batch.users, batch.interactions)
    return batch, attributed


def forget_user(state: AppState, user_id: str) -> tuple[bool, bool]:
    """Forget ``user_id`` in serving, then delete them from the store; returns whether serving
    had them and whether the store had them. Run it under the write lock.

    Raises:
        StoreUnavailableError: if the server has no store or it cannot be written (serving
            has already forgotten the user).
    """
    served = apply_delete(state, user_id)
    if state.store is None:
        raise StoreUnavailableError("no graph store is configured for this server")
    stored = state.store.call(lambda store: store.delete_user(user_id))
    return served, stored


def apply_write(
    state: AppState, users: Sequence[User], interactions: Sequence[Interaction]
) -> None:
    """Make written rows visible to serving: register ``users``, add the interactions the live
    graph does not hold yet whose items the snapshot has (others wait for the next export),
    registering their users if needed, and fold in the users whose history grew."""
    live = state.live
    live.add_users(users)
    index = state.snapshot.item_index
    servable = [r for r in interactions if r.item_id in index]
    live.add_users(User(r.user_id) for r in servable if not live.has_user(r.user_id))
    per_user: dict[str, list[int]] = {}
    for row in live.add_interactions(servable):
        per_user.setdefault(row.user_id, []).append(index[row.item_id])
    for user_id, items in per_user.items():
        state.social.fold_in_user(user_id, items)


def apply_delete(state: AppState, user_id: str) -> bool:
    """Forget ``user_id`` in serving and in the impression log; False if they were not served."""
    served = state.live.delete_user(user_id)
    if state.impressions is not None:
        state.impressions.delete_user(user_id)
    return served


def apply_change(state: AppState, change: Change) -> None:
    """Apply one logged write to ``state``."""
    if change.deleted_user is not None:
        apply_delete(state, change.deleted_user)
    else:
        apply_write(state, change.users, change.interactions)
