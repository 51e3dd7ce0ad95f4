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
