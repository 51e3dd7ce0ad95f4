-- 0004: experience bank management: use counts, capacity limits, sharing
-- grants between namespaces, the leakage guard of a run, and an eviction log.
--
-- DuckDB cannot add a NOT NULL column to a table that has indexes, so the
-- new columns are nullable with a default; code treats NULL uses as 0.

ALTER TABLE nodes ADD COLUMN uses BIGINT DEFAULT 0;

ALTER TABLE runs ADD COLUMN leakage_guard JSON;

CREATE TABLE bank_limits (
    namespace VARCHAR PRIMARY KEY,
    max_nodes BIGINT,
    max_bytes BIGINT,
    policy VARCHAR NOT NULL DEFAULT 'lru',
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE namespace_grants (
    reader VARCHAR NOT NULL,
    owner VARCHAR NOT NULL,
    granted_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (reader, owner)
);

CREATE TABLE bank_evictions (
    eviction_id BIGINT PRIMARY KEY,
    namespace VARCHAR NOT NULL,
    policy VARCHAR NOT NULL,
    rollouts BIGINT NOT NULL,
    nodes BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    evicted_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Docs of the bank tables and columns, for duckdb_tables() and duckdb_columns().
COMMENT ON TABLE bank_limits IS 'Capacity limits of a bank (namespace), enforced by tater-graph bank gc.';
COMMENT ON TABLE namespace_grants IS 'Sharing between banks: reader may retrieve from and query the rows of owner.';
COMMENT ON TABLE bank_evictions IS 'One row per eviction pass that removed rollouts from a bank.';
COMMENT ON COLUMN nodes.uses IS 'Times the planner returned this node (NULL reads as 0).';
COMMENT ON COLUMN runs.leakage_guard IS 'The evaluation-set exclusion that retrieval used, as JSON; NULL when off.';
COMMENT ON COLUMN bank_limits.max_nodes IS 'Maximum nodes the bank may keep; NULL for no limit.';
COMMENT ON COLUMN bank_limits.max_bytes IS 'Maximum estimated stored bytes (rows, vectors, index entries); NULL for no limit.';
COMMENT ON COLUMN bank_limits.policy IS 'Eviction policy: lru, fifo, lfu or quality.';
COMMENT ON COLUMN namespace_grants.reader IS 'The namespace that gains read access.';
COMMENT ON COLUMN namespace_grants.owner IS 'The namespace whose rows it may read.';
COMMENT ON COLUMN bank_evictions.rollouts IS 'Rollouts removed.';
COMMENT ON COLUMN bank_evictions.nodes IS 'Nodes removed.';
COMMENT ON COLUMN bank_evictions.bytes IS 'Estimated stored bytes freed.';
