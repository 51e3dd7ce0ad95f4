"""The exceptions tater-graph raises.

Every error derives from :class:`TaterGraphError`, so a caller can catch one
class. Each message says what failed, on which value, and what to do next.
"""

from __future__ import annotations


class TaterGraphError(Exception):
    """Base class of every error raised by tater-graph."""


class ConfigError(TaterGraphError, ValueError):
    """Raised when a configuration value is invalid (checked on construction)."""


class DatabaseError(TaterGraphError):
    """Raised when the DuckDB file cannot be opened or used."""


class DatabaseLockedError(DatabaseError):
    """Raised when another process holds the database open for writing."""


class SchemaVersionError(DatabaseError):
    """Raised when the database schema is newer than this tater-graph, or not migrated."""


class MigrationError(DatabaseError):
    """Raised when a migration fails; the schema version is left unchanged."""


class VectorIndexError(TaterGraphError):
    """Raised when the HNSW index file cannot be used and cannot be rebuilt."""


class IngestError(TaterGraphError):
    """Raised when an input record is malformed; nothing from that ingest is written.

    Attributes:
        path: the input file, or None for in-memory records.
        line: 1-based line (JSONL) or record number (JSON arrays), or None.
        field: the offending field, or None.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        self.path = path
        self.line = line
        self.field = field
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ModelError(TaterGraphError):
    """Raised when a model backend cannot load or a generation fails."""


class ContextOverflowError(ModelError):
    """Raised before a call whose prompt plus token budget exceeds the context window."""


class QueryError(TaterGraphError):
    """Raised when a user SQL query is invalid, rejected by the sandbox, or fails."""


class InvalidQueryError(QueryError):
    """Raised when a query has a syntax error or names an unknown table, column or function.

    Attributes:
        line: 1-based line of the error in the query, or None when unknown.
        column: 1-based column of the error, or None when unknown.
        suggestion: the closest known name, or None.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 suggestion: str | None = None):
        super().__init__(message)
        self.line = line
        self.column = column
        self.suggestion = suggestion


class QueryRejectedError(QueryError):
    """Raised when the sandbox rejects a query: not one read-only SELECT, or it reaches outside the graph."""


class QueryTimeoutError(QueryError):
    """Raised when a query runs longer than its time limit and is interrupted."""


class QueryRowLimitError(QueryError):
    """Raised when a query returns more rows than its row limit."""


class ExportError(TaterGraphError):
    """Raised when an export or report cannot be written; no partial output file is left."""


class NotFoundError(TaterGraphError, KeyError):
    """Raised when a problem, run, node or rollout id does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
