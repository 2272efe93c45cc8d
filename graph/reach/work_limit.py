"""Time limits on reach work: a timed pilot, a projection, and a refusal before the rest.

A running numba kernel cannot be interrupted, so limits are enforced by projection: the first
worlds of a Monte-Carlo run are the pilot (one world per worker first, which loads the compiled
kernels, then stages growing four-fold), the time of the rest is projected from the last
stage's rate, and the call fails with :class:`WorkLimitError` before running the rest when the
time spent plus the projection would exceed the limit. The pilot's worlds are part of the
result: world ``i`` depends only on ``(seed, i)``, so a limited run returns exactly what an
unlimited one does.
"""

from __future__ import annotations

import time
from typing import Final

import numpy as np
from numpy.typing import NDArray

from graph.reach.influence_graph import InfluenceGraph
from graph.reach.runners import Runner
from graph.reach.simulate import RawSimulations, merge_simulations, run_simulations

#: Worlds per worker in the first timed stage of a pilot.
PILOT_WORLDS_PER_WORKER: Final[int] = 8
#: The pilot ends at the first stage that takes at least this long; the rest runs in one go.
PILOT_STAGE_S: Final[float] = 0.05


class WorkLimitError(ValueError):
    """A request would exceed a work or time limit set by the caller (message says how much)."""


def simulate_within(
    graph: InfluenceGraph,
    seeds: NDArray[np.int32],
    *,
    lt: bool,
    simulations: int,
    base_seed: int,
    attribute: bool,
    affinity: NDArray[np.float64] | None,
    runner: Runner,
    time_limit_s: float | None,
    started: float,
    what: str,
) -> RawSimulations:
    """:func:`graph.reach.simulate.run_simulations` of worlds ``0 .. simulations - 1``, within
    ``time_limit_s`` seconds counted from ``started`` (a ``time.perf_counter()`` reading).

    Raises:
        WorkLimitError: when, after a pilot stage, the time since ``started`` plus the projected
            time of the remaining worlds exceeds ``time_limit_s`` (the message names ``what``,
            the projection and how many simulations would fit).
    """

    def run(first: int, count: int) -> RawSimulations:
        return run_simulations(
            graph,
            seeds,
            lt=lt,
            simulations=count,
            base_seed=base_seed,
            attribute=attribute,
            affinity=affinity,
            runner=runner,
            first=first,
        )

    if time_limit_s is None:
        return run(0, simulations)
    done = min(runner.workers, simulations)  # one world per worker: loads the kernels
    parts = [run(0, done)]
    stage = PILOT_WORLDS_PER_WORKER * runner.workers
    while done < simulations:  # stages until one takes PILOT_STAGE_S, then the rest
        count = min(stage, simulations - done)
        timed = time.perf_counter()
        parts.append(run(done, count))
        now = time.perf_counter()
        done += count
        if done == simulations:
            break
        per_world = max((now - timed) / count, 1e-12)
        left = time_limit_s - (now - started)
        rest = per_world * (simulations - done)
        if rest > left:
            fit = done + int(left / per_world) if left > 0 else 0
            raise WorkLimitError(
                f"{what} with {simulations} simulations would take about "
                f"{now - started + rest:.1f} s, above the time limit of {time_limit_s:g} s "
                f"({max(left, 0.0):.1f} s left); lower simulations (about {fit} fit)"
            )
        if now - timed >= PILOT_STAGE_S:
            stage = simulations - done
        else:
            stage *= 4
    return merge_simulations(parts)
