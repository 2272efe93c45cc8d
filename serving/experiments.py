"""A/B experiments: named variants of the serving knobs, traffic shares, a holdout, and the
deterministic assignment of users to variants.

A :class:`Variant` overrides some serving knobs (the others keep the server's settings): the
model checkpoint, the strategy (``model``: the usual choice per user; ``popular``: popularity
for everyone), the social-proof boost and the feed knobs (author weight, frequency cap). An
:class:`Experiment` splits users by traffic shares; ``holdout_share`` of them form the
:data:`HOLDOUT` variant, served the default settings and kept out of every treatment.

Assignment (:func:`assign`) hashes ``salt + user id`` with SHA-256 into a uniform number in
``[0, 1)`` and walks the cumulative shares (holdout first, then the variants in order), so a
user's variant is the same in every process and on every replica, a grown holdout keeps the
users it held out, and a new salt reshuffles everyone. Experiment definitions live in a JSON file
(:class:`ExperimentRegistry`, ``<work_dir>/experiments.json``); at most one experiment is
active at a time, so a user's knobs never come from two experiments.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

#: The variant name of held-out users (served the default settings).
HOLDOUT: Final[str] = "holdout"
#: Experiment and variant names: letters, digits, ``_.-``, 1 to 64 characters.
NAME_PATTERN: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: The registry's file name in the work directory.
EXPERIMENTS_FILE: Final[str] = "experiments.json"
#: Tolerance on the sum of the traffic shares.
SHARE_TOLERANCE: Final[float] = 1e-6
VariantStrategy = Literal["model", "popular"]
CapMode = Literal["demote", "drop"]


class ExperimentError(ValueError):
    """An invalid experiment definition or registry operation (the message says which)."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm of an experiment: a traffic share and knob overrides (``None``: the server's
    setting).

    Attributes:
        name: Unique within the experiment; not :data:`HOLDOUT`.
        share: Fraction of users, in (0, 1].
        checkpoint: Path of a model checkpoint trained on the served snapshot.
        strategy: ``model`` (the usual per-user choice) or ``popular`` (popularity for all).
        social_boost: Social-proof boost strength, >= 0.
        feed_author_weight: Feed score per unit of author closeness, >= 0.
        feed_cap_impressions: Feed frequency cap (shown this many times -> capped), >= 1.
        feed_cap_hours: Feed frequency cap window, > 0.
        feed_cap_mode: ``demote`` or ``drop`` capped candidates.
    """

    name: str
    share: float
    checkpoint: str | None = None
    strategy: VariantStrategy | None = None
    social_boost: float | None = None
    feed_author_weight: float | None = None
    feed_cap_impressions: int | None = None
    feed_cap_hours: float | None = None
    feed_cap_mode: CapMode | None = None

    def knobs(self) -> dict[str, Any]:
        """The overridden knobs only (name -> value)."""
        return {
            k: v for k, v in asdict(self).items() if k not in ("name", "share") and v is not None
        }


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named experiment.

    Attributes:
        name: Unique among experiments (:data:`NAME_PATTERN`).
        variants: The arms, the first being the control of comparisons.
        holdout_share: Fraction of users held out (variant :data:`HOLDOUT`), in [0, 1).
        salt: Hash salt of the assignment (default: the name); a new salt reshuffles users.
        active: Whether serving assigns users to it.
        created_ts: Creation time, epoch seconds.
    """

    name: str
    variants: tuple[Variant, ...]
    holdout_share: float = 0.0
    salt: str = ""
    active: bool = True
    created_ts: int = 0
    _bounds: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate(self)
        if not self.salt:
            object.__setattr__(self, "salt", self.name)
        edges, total = [], self.holdout_share
        for variant in self.variants:
            total += variant.share
            edges.append(total)
        object.__setattr__(self, "_bounds", tuple(edges))

    @property
    def variant_names(self) -> list[str]:
        """Variant names in order, :data:`HOLDOUT` last when there is a holdout."""
        names = [v.name for v in self.variants]
        return [*names, HOLDOUT] if self.holdout_share > 0 else names

    @property
    def control(self) -> str:
        """The first variant's name (what the others are compared with)."""
        return self.variants[0].name

    def variant(self, name: str) -> Variant | None:
        """The variant called ``name`` (``None`` for :data:`HOLDOUT`).

        Raises:
            KeyError: if the experiment has no such variant.
        """
        if name == HOLDOUT and self.holdout_share > 0:
            return None
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"experiment {self.name!r} has no variant {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (read back with :func:`experiment_from_dict`)."""
        return {
            "name": self.name,
            "variants": [asdict(v) for v in self.variants],
            "holdout_share": self.holdout_share,
            "salt": self.salt,
            "active": self.active,
            "created_ts": self.created_ts,
        }


def validate(experiment: Experiment) -> None:
    """Check names, shares and knobs of ``experiment``.

    Raises:
        ExperimentError: naming the first problem found.
    """

    def fail(message: str) -> None:
        raise ExperimentError(f"experiment {experiment.name!r}: {message}")

    if not isinstance(experiment.name, str) or not NAME_PATTERN.fullmatch(experiment.name):
        raise ExperimentError(
            f"experiment name must be 1-64 letters, digits or '_.-', got {experiment.name!r}"
        )
    if not experiment.variants:
        fail("needs at least one variant")
    if not (math.isfinite(experiment.holdout_share) and 0 <= experiment.holdout_share < 1):
        fail(f"holdout_share must be in [0, 1), got {experiment.holdout_share!r}")
    if len(experiment.variants) + (experiment.holdout_share > 0) < 2:
        fail("needs two variants, or one variant and a holdout")
    names = [v.name for v in experiment.variants]
    for v in experiment.variants:
        if not isinstance(v.name, str) or not NAME_PATTERN.fullmatch(v.name):
            fail(f"variant names must be 1-64 letters, digits or '_.-', got {v.name!r}")
        if v.name == HOLDOUT:
            fail(f"{HOLDOUT!r} is reserved for held-out users: set holdout_share instead")
        if names.count(v.name) > 1:
            fail(f"variant names must be unique, {v.name!r} appears {names.count(v.name)} times")
        if not (math.isfinite(v.share) and 0 < v.share <= 1):
            fail(f"variant {v.name!r}: share must be in (0, 1], got {v.share!r}")
        _check_knobs(v, fail)
    total = experiment.holdout_share + sum(v.share for v in experiment.variants)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        fail(f"variant shares plus holdout_share must sum to 1, got {total:.6g}")


def _check_knobs(v: Variant, fail: Any) -> None:
    def bad(knob: str, expected: str) -> None:
        fail(f"variant {v.name!r}: {knob} must be {expected}, got {getattr(v, knob)!r}")

    if v.strategy is not None and v.strategy not in ("model", "popular"):
        bad("strategy", "'model' or 'popular'")
    for knob in ("social_boost", "feed_author_weight"):
        value = getattr(v, knob)
        if value is not None and not (math.isfinite(value) and value >= 0):
            bad(knob, "a finite number >= 0")
    if v.feed_cap_impressions is not None and v.feed_cap_impressions < 1:
        bad("feed_cap_impressions", ">= 1")
    if v.feed_cap_hours is not None and not (
        math.isfinite(v.feed_cap_hours) and v.feed_cap_hours > 0
    ):
        bad("feed_cap_hours", "a finite number > 0")
    if v.feed_cap_mode is not None and v.feed_cap_mode not in ("demote", "drop"):
        bad("feed_cap_mode", "'demote' or 'drop'")
    if v.checkpoint is not None and not v.checkpoint:
        bad("checkpoint", "a non-empty path")


def experiment_from_dict(data: dict[str, Any]) -> Experiment:
    """An :class:`Experiment` from its :meth:`Experiment.to_dict` form.

    Raises:
        ExperimentError: if fields are missing, unknown or invalid.
    """
    try:
        variants = tuple(Variant(**v) for v in data["variants"])
        rest = {k: v for k, v in data.items() if k != "variants"}
        return Experiment(variants=variants, **rest)
    except (KeyError, TypeError) as exc:
        raise ExperimentError(f"invalid experiment definition: {exc}") from None


def bucket(salt: str, user_id: str) -> float:
    """A uniform number in ``[0, 1)`` from SHA-256 of ``salt``, a separator and ``user_id``
    (the same in every process: no ``hash()`` randomisation)."""
    digest = hashlib.sha256(f"{salt}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(experiment: Experiment, user_id: str) -> str:
    """The variant name of ``user_id`` in ``experiment`` (:data:`HOLDOUT` for held-out users)."""
    u = bucket(experiment.salt, user_id)
    if u < experiment.holdout_share:
        return HOLDOUT
    for variant, edge in zip(experiment.variants, experiment._bounds, strict=True):
        if u < edge:
            return variant.name
    return experiment.variants[-1].name  # shares summing to 1 - tiny rounding


@dataclass(frozen=True, slots=True)
class Assignment:
    """Which experiment and variant serve a request, and the knobs to apply."""

    experiment: str
    variant: str
    knobs: dict[str, Any]


class ExperimentRegistry:
    """Experiment definitions in one JSON file, shared by every process that opens it.

    The file is re-read when its modification time changes (checked at most once per
    ``refresh_s``), so replicas sharing a work directory see new experiments within that time.
    Writes replace the file atomically.

    Args:
        path: The JSON file (created on the first write).
        refresh_s: Least seconds between checks of the file's modification time.
    """

    def __init__(self, path: Path, refresh_s: float = 1.0) -> None:
        self.path = path
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._experiments: dict[str, Experiment] = {}
        self._mtime: float | None = None
        self._checked = -math.inf
        self._reload(force=True)

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_s:
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._experiments, self._mtime = {}, None
            return
        if not force and mtime == self._mtime:
            return
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExperimentError(f"cannot read experiments from {self.path}: {exc}") from None
        self._experiments = {row["name"]: experiment_from_dict(row) for row in rows}
        self._mtime = mtime

    def experiments(self) -> list[Experiment]:
        """Every experiment, oldest first."""
        with self._lock:
            self._reload()
            return sorted(self._experiments.values(), key=lambda e: (e.created_ts, e.name))

    def get(self, name: str) -> Experiment:
        """The experiment called ``name``.

        Raises:
            KeyError: if there is none.
        """
        with self._lock:
            self._reload()
            try:
                return self._experiments[name]
            except KeyError:
                raise KeyError(f"no experiment named {name!r}") from None

    def active(self) -> Experiment | None:
        """The active experiment, if any."""
        with self._lock:
            self._reload()
            return next((e for e in self._experiments.values() if e.active), None)

    def assignment(self, user_id: str) -> Assignment | None:
        """The active experiment's variant for ``user_id`` and its knobs (``None`` without an
        active experiment; the holdout gets no knobs)."""
        experiment = self.active()
        if experiment is None:
            return None
        name = assign(experiment, user_id)
        variant = experiment.variant(name)
        return Assignment(experiment.name, name, variant.knobs() if variant else {})

    def create(self, experiment: Experiment) -> Experiment:
        """Add ``experiment`` (stamped with the current time when it has none).

        Raises:
            ExperimentError: if the name is taken, or it is active while another one is.
        """
        with self._lock:
            self._reload(force=True)
            if experiment.name in self._experiments:
                raise ExperimentError(f"an experiment named {experiment.name!r} exists already")
            running = [e.name for e in self._experiments.values() if e.active]
            if experiment.active and running:
                raise ExperimentError(
                    f"experiment {running[0]!r} is active: stop it before starting "
                    f"{experiment.name!r} (one active experiment at a time)"
                )
            if not experiment.created_ts:
                experiment = replace(experiment, created_ts=int(time.time()))
            self._write({**self._experiments, experiment.name: experiment})
            return experiment

    def stop(self, name: str) -> Experiment:
        """Mark ``name`` inactive (its serves and report stay).

        Raises:
            KeyError: if there is no such experiment.
        """
        with self._lock:
            self._reload(force=True)
            if name not in self._experiments:
                raise KeyError(f"no experiment named {name!r}")
            stopped = replace(self._experiments[name], active=False)
            self._write({**self._experiments, name: stopped})
            return stopped

    def _write(self, experiments: dict[str, Experiment]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = [e.to_dict() for e in experiments.values()]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".experiments.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
        os.replace(tmp, self.path)
        self._experiments = experiments
        self._mtime = self.path.stat().st_mtime
