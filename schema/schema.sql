-- The current tater-graph schema, as the migrations in ../migrations build it.
-- tests/test_migrations.py checks that running this file gives the same
-- tables, columns, types and defaults as a freshly migrated database.
-- Every id is a BIGINT assigned by the single writer process.

-- Applied migrations: one row each, written in the migration's transaction.
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY,            -- migration number (0001 -> 1)
    name VARCHAR NOT NULL,                  -- migration file name without number and .sql
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Database-wide settings, such as the embedder the vectors were made with.
CREATE TABLE meta (
    key VARCHAR PRIMARY KEY,                -- 'embedder'
    value VARCHAR NOT NULL
);

-- One row per distinct problem statement in a namespace.
CREATE TABLE problems (
    problem_id BIGINT PRIMARY KEY,
    namespace VARCHAR NOT NULL DEFAULT 'default',  -- the bank the problem belongs to
    dataset VARCHAR NOT NULL,               -- gsm8k, math500, processbench-gsm8k, jsonl, ...
    source_id VARCHAR,                      -- id in the source dataset, e.g. gsm8k-17
    question VARCHAR NOT NULL,              -- problem text as given
    question_hash VARCHAR NOT NULL,         -- BLAKE2b-128 of the whitespace- and case-folded text
    gold_answer VARCHAR,                    -- reference answer, NULL when unknown
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (namespace, question_hash)
);

-- One row per search run, with its compute ledger.
CREATE TABLE runs (
    run_id BIGINT PRIMARY KEY,
    namespace VARCHAR NOT NULL DEFAULT 'default',
    strategy VARCHAR NOT NULL,              -- best-of-n, beam, ...
    dataset VARCHAR,                        -- bundled dataset name, if any
    model VARCHAR,                          -- model file name or backend name
    config JSON,                            -- the SearchConfig as JSON
    status VARCHAR NOT NULL DEFAULT 'running',  -- running, finished, interrupted, failed
    started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP,
    n_problems INTEGER NOT NULL DEFAULT 0,
    n_correct INTEGER NOT NULL DEFAULT 0,
    accuracy DOUBLE,                        -- n_correct / graded problems; NULL when none is graded
    prompt_tokens BIGINT NOT NULL DEFAULT 0,      -- prompt tokens evaluated (after KV-cache prefix reuse)
    generated_tokens BIGINT NOT NULL DEFAULT 0,   -- tokens sampled from the model
    reused_tokens BIGINT NOT NULL DEFAULT 0,      -- step tokens taken from the graph instead of generated
    model_calls BIGINT NOT NULL DEFAULT 0,
    wall_seconds DOUBLE NOT NULL DEFAULT 0,
    leakage_guard JSON                      -- the evaluation-set exclusion retrieval used; NULL when off
);

-- The per-problem ledger of a run: voted answer, grade and compute.
CREATE TABLE run_problems (
    run_id BIGINT NOT NULL,
    problem_id BIGINT NOT NULL,
    answer VARCHAR,                         -- voted answer, NULL when no rollout had one
    is_correct BOOLEAN,                     -- NULL when the gold answer is unknown
    n_rollouts INTEGER NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    generated_tokens BIGINT NOT NULL,
    reused_tokens BIGINT NOT NULL,
    model_calls BIGINT NOT NULL,
    wall_seconds DOUBLE NOT NULL,
    PRIMARY KEY (run_id, problem_id)
);

-- One row per sampled or ingested solution.
CREATE TABLE rollouts (
    rollout_id BIGINT PRIMARY KEY,
    problem_id BIGINT NOT NULL,
    run_id BIGINT,                          -- NULL for ingested rollouts
    source VARCHAR NOT NULL,                -- search, jsonl, processbench, prm800k-stepwise, ...
    generator VARCHAR,                      -- model that wrote it
    seed BIGINT,                            -- sampler seed, for generated rollouts
    text VARCHAR,                           -- raw generated text, when generated here
    answer VARCHAR,                         -- extracted final answer, NULL when none parsed
    is_correct BOOLEAN,                     -- graded against the gold answer, NULL when unknown
    n_steps INTEGER NOT NULL,
    terminal_node_id BIGINT NOT NULL,       -- the node the rollout ended at
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    generated_tokens BIGINT NOT NULL DEFAULT 0,
    reused_tokens BIGINT NOT NULL DEFAULT 0,
    wall_seconds DOUBLE NOT NULL DEFAULT 0,
    score DOUBLE,                           -- rollout score from a scorer or the source, if any
    error VARCHAR,                          -- why the sample failed; such rollouts have no steps
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Reasoning states: a problem plus the multiset of normalized steps taken so far.
CREATE TABLE nodes (
    node_id BIGINT PRIMARY KEY,
    problem_id BIGINT NOT NULL,
    state_key VARCHAR NOT NULL,             -- order-independent hash of the step multiset; root is all zeros
    depth INTEGER NOT NULL,                 -- steps taken; 0 for the root
    step_text VARCHAR NOT NULL,             -- original text of the step that first reached this state
    step_norm VARCHAR NOT NULL,             -- normalized text of that step (identity key)
    visits BIGINT NOT NULL DEFAULT 0,       -- rollouts through this state
    graded BIGINT NOT NULL DEFAULT 0,       -- of those, rollouts whose correctness is known
    successes BIGINT NOT NULL DEFAULT 0,    -- of those, rollouts graded correct
    value DOUBLE NOT NULL DEFAULT 0.5,      -- (successes + 1) / (graded + 2): Beta(1,1) posterior mean
    terminal_visits BIGINT NOT NULL DEFAULT 0,  -- rollouts that ended here
    answer VARCHAR,                         -- first answer extracted by a rollout ending here
    score DOUBLE,                           -- latest step score from a scorer, if any
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    last_used_at TIMESTAMP,                 -- last time the planner returned this node
    uses BIGINT DEFAULT 0,                  -- times the planner returned this node (NULL reads as 0)
    UNIQUE (problem_id, state_key)
);

-- Transitions between states, with how many rollouts took them.
CREATE TABLE edges (
    parent_id BIGINT NOT NULL,
    child_id BIGINT NOT NULL,
    problem_id BIGINT NOT NULL,
    step_norm VARCHAR NOT NULL,             -- normalized text of the step taken
    traversals BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (parent_id, child_id)
);

-- Each rollout's path through the nodes, with its own step text.
CREATE TABLE rollout_steps (
    rollout_id BIGINT NOT NULL,
    position INTEGER NOT NULL,              -- 1-based step number
    node_id BIGINT NOT NULL,                -- state after this step
    step_text VARCHAR NOT NULL,             -- the step as this rollout wrote it
    label INTEGER,                          -- per-step label from the source (1 right, -1 wrong, 0 neutral)
    PRIMARY KEY (rollout_id, position)
);

-- Step embeddings (L2-normalized); the HNSW file is rebuilt from these.
CREATE TABLE node_vectors (
    node_id BIGINT PRIMARY KEY,
    embedding FLOAT[384] NOT NULL
);

-- Problem statement embeddings, for similar-problem retrieval.
CREATE TABLE problem_vectors (
    problem_id BIGINT PRIMARY KEY,
    embedding FLOAT[384] NOT NULL
);

-- Scores given to steps by scorers.
CREATE TABLE step_scores (
    node_id BIGINT NOT NULL,
    scorer VARCHAR NOT NULL,                -- graph-value, arithmetic, self-eval, ...
    score DOUBLE NOT NULL,                  -- in [0, 1]
    run_id BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Typed experience distilled from the graph: verified conclusions and failure patterns.
CREATE TABLE experiences (
    experience_id BIGINT PRIMARY KEY,
    problem_id BIGINT NOT NULL,
    node_id BIGINT NOT NULL,                -- node the experience came from
    kind VARCHAR NOT NULL CHECK (kind IN ('positive', 'negative')),
    content VARCHAR NOT NULL,               -- the step text or pattern
    visits BIGINT NOT NULL,                 -- support when distilled
    value DOUBLE NOT NULL,                  -- node value when distilled
    source_rollouts BIGINT[] NOT NULL,      -- rollouts through the node
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (node_id, kind)
);

-- Capacity limits of a bank (namespace), enforced by `tater-graph bank gc`.
CREATE TABLE bank_limits (
    namespace VARCHAR PRIMARY KEY,
    max_nodes BIGINT,                       -- most nodes the bank may keep; NULL: no limit
    max_bytes BIGINT,                       -- most estimated stored bytes (see tater_graph/bank.py); NULL: no limit
    policy VARCHAR NOT NULL DEFAULT 'lru',  -- eviction policy: lru, fifo, lfu, quality
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Sharing between banks: reader may retrieve from and query the rows of owner.
CREATE TABLE namespace_grants (
    reader VARCHAR NOT NULL,                -- the namespace that gains read access
    owner VARCHAR NOT NULL,                 -- the namespace whose rows it may read
    granted_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (reader, owner)
);

-- One row per eviction pass that removed rollouts from a bank.
CREATE TABLE bank_evictions (
    eviction_id BIGINT PRIMARY KEY,
    namespace VARCHAR NOT NULL,
    policy VARCHAR NOT NULL,                -- lru, fifo, lfu, quality
    rollouts BIGINT NOT NULL,               -- rollouts removed
    nodes BIGINT NOT NULL,                  -- nodes removed
    bytes BIGINT NOT NULL,                  -- estimated stored bytes freed
    evicted_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE INDEX rollouts_problem ON rollouts (problem_id);
CREATE INDEX edges_child ON edges (child_id);
CREATE INDEX rollout_steps_node ON rollout_steps (node_id);
