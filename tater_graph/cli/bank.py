"""``tater-graph bank``: capacity limits, eviction, vacuum, statistics and sharing of banks."""

from __future__ import annotations

import click

from tater_graph.cli.main import Context, cli, stderr
from tater_graph.cli.output import print_rows

pass_context = click.make_pass_decorator(Context)


@cli.group()
def bank() -> None:
    """Manage experience banks (namespaces): limits, eviction, vacuum, sharing.

    \b
    Example:
        tater-graph bank limit default --max-nodes 50000 --policy quality
        tater-graph bank gc
        tater-graph bank stats
    """


@bank.command()
@click.argument("namespaces", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print rows as a JSON array.")
@pass_context
def stats(ctx: Context, namespaces: tuple[str, ...], as_json: bool) -> None:
    """Print rows, estimated bytes, limits and grants per namespace (default: all).

    \b
    Example:
        tater-graph bank stats default team-a --json
    """
    from tater_graph.bank import bank_stats
    from tater_graph.store.database import Database

    with Database(ctx.db, read_only=True) as db:
        rows = bank_stats(db, list(namespaces) or None)
    columns = list(rows[0]) if rows else ["namespace"]
    print_rows(columns, [list(row.values()) for row in rows], "json" if as_json else "table", title="Banks")


@bank.command()
@click.argument("namespace")
@click.option("--max-nodes", type=click.IntRange(min=0), help="Maximum nodes the bank keeps (default: no limit).")
@click.option("--max-bytes", type=click.IntRange(min=0),
              help="Maximum estimated stored bytes: rows, vectors and index entries (default: no limit).")
@click.option("--policy", default="lru", show_default=True, help="Eviction policy (see `bank policies`).")
@pass_context
def limit(ctx: Context, namespace: str, max_nodes: int | None, max_bytes: int | None, policy: str) -> None:
    """Store the capacity limits of NAMESPACE; `bank gc` enforces them.

    \b
    Example:
        tater-graph bank limit default --max-nodes 50000 --max-bytes 200000000 --policy quality
    """
    from tater_graph.bank import BankLimits, set_limits
    from tater_graph.store.database import Database

    limits = BankLimits(namespace, max_nodes, max_bytes, policy)
    with Database(ctx.db) as db:
        set_limits(db, limits)
    stderr.print(f"Namespace {namespace}: max nodes {max_nodes}, max bytes {max_bytes}, policy {policy}.")


@bank.command()
@click.argument("namespaces", nargs=-1)
@click.option("--policy", help="Eviction policy for this pass, overriding the stored one.")
@click.option("--dry-run", is_flag=True, help="Report what would be evicted; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as a JSON array.")
@pass_context
def gc(ctx: Context, namespaces: tuple[str, ...], policy: str | None, dry_run: bool, as_json: bool) -> None:
    """Evict whole rollouts until each bank is within its limits (default: every bank with limits).

    \b
    Example:
        tater-graph bank gc default --dry-run
    """
    from tater_graph.bank import gc as collect
    from tater_graph.graph import StepGraph

    with StepGraph.open(ctx.db) as graph:
        reports = collect(graph, list(namespaces) or None, policy=policy, dry_run=dry_run)
    rows = [(r.namespace, r.policy, r.evicted.rollouts, r.evicted.nodes, r.before.nodes, r.after.nodes,
             r.before.bytes, r.after.bytes, r.within_limits) for r in reports]
    columns = ["namespace", "policy", "evicted_rollouts", "evicted_nodes", "nodes_before", "nodes_after",
               "bytes_before", "bytes_after", "within_limits"]
    print_rows(columns, rows, "json" if as_json else "table", title="Dry run" if dry_run else "Evicted")


@bank.command()
@click.option("--json", "as_json", is_flag=True, help="Print the sizes as JSON.")
@pass_context
def vacuum(ctx: Context, as_json: bool) -> None:
    """Checkpoint and vacuum the database, then rebuild the HNSW index from DuckDB.

    \b
    Example:
        tater-graph bank vacuum
    """
    from tater_graph.bank import vacuum as run_vacuum
    from tater_graph.graph import StepGraph

    with StepGraph.open(ctx.db) as graph:
        sizes = run_vacuum(graph)
    print_rows(["item", "value"], list(sizes.items()), "json" if as_json else "table", title="Vacuum")


@bank.command()
@click.argument("reader")
@click.argument("owner")
@click.option("--revoke", is_flag=True, help="Withdraw the grant instead.")
@pass_context
def grant(ctx: Context, reader: str, owner: str, revoke: bool) -> None:
    """Let namespace READER read the rows of namespace OWNER (or withdraw that with --revoke).

    \b
    Example:
        tater-graph bank grant team-a shared-gsm8k
    """
    from tater_graph import bank as banks
    from tater_graph.store.database import Database

    with Database(ctx.db) as db:
        changed = banks.revoke(db, reader, owner) if revoke else banks.grant(db, reader, owner)
    verb = "no longer reads" if revoke else "reads"
    stderr.print(f"{reader} {verb} {owner}" + ("." if changed else " (unchanged)."))


@bank.command()
@click.option("--json", "as_json", is_flag=True, help="Print rows as a JSON array.")
def policies(as_json: bool) -> None:
    """List the eviction policies.

    \b
    Example:
        tater-graph bank policies
    """
    from tater_graph.bank import POLICIES

    rows = [(p.name, p.description) for p in POLICIES.values()]
    print_rows(["policy", "description"], rows, "json" if as_json else "table")
