"""Eviction policies: each orders a bank's rollouts from first to last evicted.

The unit of eviction is a whole rollout, so the graph never contains a partial
path. A policy only ranks; :mod:`tater_graph.bank.evict` removes the chosen
rollouts and the states no remaining rollout reaches.

Every policy ranks from the same per-rollout features (:data:`FEATURES_SQL`):

- ``last_used``: the latest ``last_used_at`` of the states on the rollout
  (set when the planner returns a state), else the rollout's ``created_at``.
- ``uses``: the largest planner use count of a state on the rollout.
- ``quality``: the support-weighted mean value of the states on the rollout,
  plus a bonus growing with their mean number of graded rollouts.
- ``verified_correct``: the rollout was graded correct.

Register another policy with :func:`register_policy`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import duckdb

from tater_graph.errors import ConfigError

FEATURES_SQL = """
SELECT r.rollout_id, r.created_at,
       greatest(coalesce(max(n.last_used_at), r.created_at), r.created_at) AS last_used,
       coalesce(max(coalesce(n.uses, 0)), 0) AS uses,
       coalesce(sum(n.value * n.graded) / nullif(sum(n.graded), 0), 0.5) AS mean_value,
       coalesce(avg(n.graded), 0) AS mean_graded,
       coalesce(r.is_correct, false) AS verified_correct
FROM rollouts r
JOIN problems p USING (problem_id)
LEFT JOIN rollout_steps s USING (rollout_id)
LEFT JOIN nodes n ON n.node_id = s.node_id
WHERE p.namespace = ?
GROUP BY r.rollout_id, r.created_at, r.is_correct
"""


@dataclass(frozen=True)
class EvictionPolicy:
    """A named ordering of rollouts, first evicted first.

    Attributes:
        name: the registry key (``lru``, ``fifo``, ...).
        description: one line for help text and reports.
        order_by: a DuckDB ``ORDER BY`` list over the columns of :data:`FEATURES_SQL`;
            ``rollout_id`` is appended so that ties break the same way every time.
    """

    name: str
    description: str
    order_by: str

    def rank(self, con: duckdb.DuckDBPyConnection, namespace: str) -> list[int]:
        """Return the rollout ids of ``namespace`` in eviction order."""
        rows = con.execute(
            f"SELECT rollout_id FROM ({FEATURES_SQL}) ORDER BY {self.order_by}, rollout_id", [namespace]
        ).fetchall()
        return [row[0] for row in rows]


def quality_policy(value_weight: float = 1.0, support_weight: float = 0.1) -> EvictionPolicy:
    """Build the quality-aware policy with the given weights.

    Rollouts graded correct are evicted only after every other rollout, so a
    verified high-value state never goes before an unverified low-value one.
    Within each group, the lowest ``value_weight * mean_value +
    support_weight * ln(1 + mean_graded)`` goes first, then the least recently used.
    """
    if value_weight < 0 or support_weight < 0:
        raise ConfigError(f"invalid quality weights ({value_weight}, {support_weight}): use values of 0 or more")
    score = f"{value_weight!r} * mean_value + {support_weight!r} * ln(1 + mean_graded)"
    return EvictionPolicy(
        "quality", "unverified and low-value rollouts first, weighted by support; rollouts graded correct last",
        f"verified_correct, {score}, last_used",
    )


POLICIES: dict[str, EvictionPolicy] = {}


def register_policy(policy: EvictionPolicy) -> EvictionPolicy:
    """Add ``policy`` to the registry under its name, replacing any policy of that name."""
    POLICIES[policy.name] = policy
    return policy


def get_policy(name: str) -> EvictionPolicy:
    """Return the registered policy called ``name``.

    Raises:
        ConfigError: no policy has that name; the message lists the valid ones.
    """
    if name in POLICIES:
        return POLICIES[name]
    close = difflib.get_close_matches(name, POLICIES, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown eviction policy {name!r}{hint}: use one of {', '.join(sorted(POLICIES))}")


register_policy(EvictionPolicy("lru", "least recently used by the planner first (never used: oldest first)",
                               "last_used, created_at"))
register_policy(EvictionPolicy("fifo", "oldest rollout first", "created_at"))
register_policy(EvictionPolicy("lfu", "fewest planner uses first, then least recently used", "uses, last_used"))
register_policy(quality_policy())
