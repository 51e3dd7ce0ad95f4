"""Capacity limits, garbage collection, vacuum and per-bank statistics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from tater_graph.bank.evict import EvictionResult, choose_victims, evict_rollouts
from tater_graph.bank.namespaces import check_namespace, visible_namespaces
from tater_graph.bank.policies import EvictionPolicy, get_policy
from tater_graph.bank.usage import BankUsage, list_namespaces, namespace_usage
from tater_graph.errors import ConfigError
from tater_graph.graph import StepGraph
from tater_graph.store.database import Database

logger = logging.getLogger(__name__)

# Passes of choose-evict-measure before gc gives up on reaching a limit. Each
# pass frees at least what the estimate asked for, so one pass normally suffices.
_MAX_PASSES = 8


@dataclass(frozen=True)
class BankLimits:
    """Capacity limits of one namespace; None means no limit."""

    namespace: str
    max_nodes: int | None = None
    max_bytes: int | None = None
    policy: str = "lru"

    def __post_init__(self) -> None:
        check_namespace(self.namespace)
        for name, value in (("max_nodes", self.max_nodes), ("max_bytes", self.max_bytes)):
            if value is not None and value < 0:
                raise ConfigError(f"invalid {name} {value} for namespace {self.namespace!r}: use 0 or more, or no limit")
        get_policy(self.policy)


@dataclass(frozen=True)
class GcReport:
    """The outcome of collecting one namespace."""

    namespace: str
    policy: str
    before: BankUsage
    after: BankUsage
    evicted: EvictionResult
    within_limits: bool


def set_limits(db: Database, limits: BankLimits) -> None:
    """Store the capacity limits of a namespace (replacing earlier ones)."""
    with db.transaction() as con:
        con.execute("DELETE FROM bank_limits WHERE namespace = ?", [limits.namespace])
        con.execute("INSERT INTO bank_limits (namespace, max_nodes, max_bytes, policy) VALUES (?, ?, ?, ?)",
                    [limits.namespace, limits.max_nodes, limits.max_bytes, limits.policy])


def get_limits(db: Database, namespace: str) -> BankLimits | None:
    """Return the stored limits of ``namespace``, or None when it has none."""
    rows = db.cursor().execute("SELECT max_nodes, max_bytes, policy FROM bank_limits WHERE namespace = ?",
                               [namespace]).fetchall()
    return BankLimits(namespace, *rows[0]) if rows else None


def gc(graph: StepGraph, namespaces: Sequence[str] | None = None, *, limits: BankLimits | None = None,
       policy: str | EvictionPolicy | None = None, dry_run: bool = False) -> list[GcReport]:
    """Evict whole rollouts until each namespace is within its limits, then rebuild the index.

    Args:
        graph: the graph, opened writable.
        namespaces: the banks to collect; default every bank with stored limits
            (or just ``limits.namespace`` when ``limits`` is given).
        limits: limits to apply instead of the stored ones (for one namespace).
        policy: eviction policy name or object, overriding the limits' policy.
        dry_run: report what would be evicted, change nothing.
    """
    if limits is not None:
        targets = [limits]
    else:
        names = namespaces if namespaces is not None else _limited_namespaces(graph.db)
        targets = []
        for name in names:
            stored = get_limits(graph.db, name)
            if stored is None:
                raise ConfigError(f"namespace {name!r} has no capacity limits: set them first with "
                                  f"`tater-graph bank limit {name} --max-nodes N` or pass limits")
            targets.append(stored)

    reports = [_collect(graph, target, policy, dry_run) for target in targets]
    # NOTE: a full rebuild takes time in proportion to every vector in the file, not to those evicted.
    # hnswlib's mark_deleted would be cheaper, but the deleted labels would keep their memory.
    if not dry_run and any(r.evicted.rollouts for r in reports):
        count = graph.index.rebuild(graph.db)
        graph.flush()
        logger.info("rebuilt the HNSW index with %d vectors after eviction", count)
    return reports


def _limited_namespaces(db: Database) -> list[str]:
    return [row[0] for row in db.cursor().execute("SELECT namespace FROM bank_limits ORDER BY 1").fetchall()]


def _collect(graph: StepGraph, limits: BankLimits, policy: str | EvictionPolicy | None, dry_run: bool) -> GcReport:
    chosen = policy or limits.policy
    chosen = chosen if isinstance(chosen, EvictionPolicy) else get_policy(chosen)
    con = graph.db.con
    before = usage = namespace_usage(con, limits.namespace)
    total = EvictionResult(0, 0, 0, 0)

    for _ in range(_MAX_PASSES):
        over_nodes = usage.nodes - limits.max_nodes if limits.max_nodes is not None else 0
        over_bytes = usage.bytes - limits.max_bytes if limits.max_bytes is not None else 0
        if over_nodes <= 0 and over_bytes <= 0:
            break
        plan = choose_victims(con, limits.namespace, chosen.rank(con, limits.namespace), over_nodes, over_bytes)
        if not plan.rollout_ids:
            break
        if dry_run:
            # NOTE: a dry run counts nodes exactly but not edges or problems.
            total = EvictionResult(len(plan.rollout_ids), plan.nodes, 0, 0)
            break
        result = evict_rollouts(graph.db, plan.rollout_ids)
        total = EvictionResult(*(a + b for a, b in zip(_astuple(total), _astuple(result))))
        usage = namespace_usage(con, limits.namespace)

    if total.rollouts and not dry_run:
        _log_eviction(graph.db, limits.namespace, chosen.name, total, before.bytes - usage.bytes)
    within = ((limits.max_nodes is None or usage.nodes <= limits.max_nodes)
              and (limits.max_bytes is None or usage.bytes <= limits.max_bytes))
    return GcReport(limits.namespace, chosen.name, before, usage, total, within)


def _astuple(result: EvictionResult) -> tuple[int, int, int, int]:
    return (result.rollouts, result.nodes, result.edges, result.problems)


def _log_eviction(db: Database, namespace: str, policy: str, result: EvictionResult, freed_bytes: int) -> None:
    with db.transaction() as con:
        eviction_id = db.next_id("bank_evictions", "eviction_id")
        con.execute("INSERT INTO bank_evictions (eviction_id, namespace, policy, rollouts, nodes, bytes) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [eviction_id, namespace, policy, result.rollouts, result.nodes, freed_bytes])


def vacuum(graph: StepGraph) -> dict[str, int]:
    """Checkpoint and vacuum the database, then rebuild the HNSW index from the stored vectors.

    Returns the database file size before and after, and the vectors indexed.
    DuckDB reuses freed blocks but does not shrink the file, so the size may stay the same.
    """
    before = graph.db.path.stat().st_size
    with graph.db._lock:
        graph.db.con.execute("CHECKPOINT")
        graph.db.con.execute("VACUUM")
    vectors = graph.index.rebuild(graph.db)
    graph.flush()
    logger.info("vacuumed %s and rebuilt the HNSW index with %d vectors", graph.db.path, vectors)
    return {"bytes_before": before, "bytes_after": graph.db.path.stat().st_size, "vectors": vectors}


def bank_stats(db: Database, namespaces: Sequence[str] | None = None) -> list[dict[str, object]]:
    """Return one row per namespace: counts, estimated bytes, limits, evictions and grants."""
    con = db.cursor()
    rows = []
    for name in namespaces if namespaces is not None else list_namespaces(con):
        usage = namespace_usage(con, name)
        limits = get_limits(db, name)
        evicted = con.execute("SELECT coalesce(sum(rollouts), 0) FROM bank_evictions WHERE namespace = ?",
                              [name]).fetchall()[0][0]
        rows.append({
            "namespace": name, "problems": usage.problems, "rollouts": usage.rollouts, "nodes": usage.nodes,
            "edges": usage.edges, "vectors": usage.node_vectors, "bytes": usage.bytes,
            "max_nodes": limits.max_nodes if limits else None, "max_bytes": limits.max_bytes if limits else None,
            "policy": limits.policy if limits else None, "evicted_rollouts": int(evicted),
            "reads_from": ",".join(visible_namespaces(con, name)[1:]),
        })
    return rows


def record_use(db: Database, node_ids: Sequence[int]) -> None:
    """Mark nodes as returned by the planner now: set ``last_used_at``, add 1 to ``uses``."""
    if not node_ids:
        return
    table = pa.table({"node_id": pa.array(sorted(set(int(i) for i in node_ids)), pa.int64())})
    with db.transaction() as con:
        con.register("_tg_used", table)
        try:
            con.execute("UPDATE nodes SET last_used_at = current_timestamp, uses = coalesce(uses, 0) + 1 "
                        "FROM _tg_used u WHERE nodes.node_id = u.node_id")
        finally:
            con.unregister("_tg_used")
