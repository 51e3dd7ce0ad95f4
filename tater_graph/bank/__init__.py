"""Experience bank management: capacity limits, eviction, namespaces, sharing and the leakage guard.

A bank is a namespace: the problems (and their rollouts, states, edges and
vectors) and runs stored under one ``namespace`` value. Several banks share
one database file and one HNSW index.

>>> from tater_graph import StepGraph                                          # doctest: +SKIP
>>> from tater_graph.bank import BankLimits, gc, set_limits                    # doctest: +SKIP
>>> with StepGraph.open("bank.duckdb") as graph:                               # doctest: +SKIP
...     set_limits(graph.db, BankLimits("default", max_nodes=50_000, policy="quality"))
...     gc(graph)
"""

from tater_graph.bank.check import consistency_violations
from tater_graph.bank.evict import EvictionResult, choose_victims, evict_rollouts
from tater_graph.bank.leakage import LeakageGuard, excluded_problems, record_guard
from tater_graph.bank.manage import (
    BankLimits, GcReport, bank_stats, gc, get_limits, record_use, set_limits, vacuum,
)
from tater_graph.bank.namespaces import check_namespace, grant, revoke, visible_namespaces
from tater_graph.bank.policies import POLICIES, EvictionPolicy, get_policy, quality_policy, register_policy
from tater_graph.bank.scope import RetrievalScope, retrieval_scope
from tater_graph.bank.usage import BankUsage, namespace_usage

__all__ = [
    "POLICIES", "BankLimits", "BankUsage", "EvictionPolicy", "EvictionResult", "GcReport", "LeakageGuard",
    "RetrievalScope", "bank_stats", "consistency_violations", "check_namespace", "choose_victims", "evict_rollouts",
    "excluded_problems", "gc", "get_limits", "get_policy", "grant", "namespace_usage", "quality_policy",
    "record_guard", "record_use", "register_policy", "retrieval_scope", "revoke", "set_limits", "vacuum",
    "visible_namespaces",
]
