-- 0001: problems, runs, rollouts, step nodes, edges, rollout paths and vectors.
--
-- Ids are assigned by the single writer process (max id + 1), so bulk
-- inserts from Arrow tables need no sequence round trips.

CREATE TABLE meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE problems (
    problem_id BIGINT PRIMARY KEY,
    namespace VARCHAR NOT NULL DEFAULT 'default',
    dataset VARCHAR NOT NULL,
    source_id VARCHAR,
    question VARCHAR NOT NULL,
    question_hash VARCHAR NOT NULL,
    gold_answer VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (namespace, question_hash)
);

CREATE TABLE runs (
    run_id BIGINT PRIMARY KEY,
    namespace VARCHAR NOT NULL DEFAULT 'default',
    strategy VARCHAR NOT NULL,
    dataset VARCHAR,
    model VARCHAR,
    config JSON,
    status VARCHAR NOT NULL DEFAULT 'running',
    started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP,
    n_problems INTEGER NOT NULL DEFAULT 0,
    n_correct INTEGER NOT NULL DEFAULT 0,
    accuracy DOUBLE,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    generated_tokens BIGINT NOT NULL DEFAULT 0,
    reused_tokens BIGINT NOT NULL DEFAULT 0,
    model_calls BIGINT NOT NULL DEFAULT 0,
    wall_seconds DOUBLE NOT NULL DEFAULT 0
);

CREATE TABLE run_problems (
    run_id BIGINT NOT NULL,
    problem_id BIGINT NOT NULL,
    answer VARCHAR,
    is_correct BOOLEAN,
    n_rollouts INTEGER NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    generated_tokens BIGINT NOT NULL,
    reused_tokens BIGINT NOT NULL,
    model_calls BIGINT NOT NULL,
    wall_seconds DOUBLE NOT NULL,
    PRIMARY KEY (run_id, problem_id)
);

CREATE TABLE rollouts (
    rollout_id BIGINT PRIMARY KEY,
    problem_id BIGINT NOT NULL,
    run_id BIGINT,
    source VARCHAR NOT NULL,
    generator VARCHAR,
    seed BIGINT,
    text VARCHAR,
    answer VARCHAR,
    is_correct BOOLEAN,
    n_steps INTEGER NOT NULL,
    terminal_node_id BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    generated_tokens BIGINT NOT NULL DEFAULT 0,
    reused_tokens BIGINT NOT NULL DEFAULT 0,
    wall_seconds DOUBLE NOT NULL DEFAULT 0,
    score DOUBLE,
    error VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE nodes (
    node_id BIGINT PRIMARY KEY,
    problem_id BIGINT NOT NULL,
    state_key VARCHAR NOT NULL,
    depth INTEGER NOT NULL,
    step_text VARCHAR NOT NULL,
    step_norm VARCHAR NOT NULL,
    visits BIGINT NOT NULL DEFAULT 0,
    graded BIGINT NOT NULL DEFAULT 0,
    successes BIGINT NOT NULL DEFAULT 0,
    value DOUBLE NOT NULL DEFAULT 0.5,
    terminal_visits BIGINT NOT NULL DEFAULT 0,
    answer VARCHAR,
    score DOUBLE,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    last_used_at TIMESTAMP,
    UNIQUE (problem_id, state_key)
);

CREATE TABLE edges (
    parent_id BIGINT NOT NULL,
    child_id BIGINT NOT NULL,
    problem_id BIGINT NOT NULL,
    step_norm VARCHAR NOT NULL,
    traversals BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (parent_id, child_id)
);

CREATE TABLE rollout_steps (
    rollout_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    node_id BIGINT NOT NULL,
    step_text VARCHAR NOT NULL,
    label INTEGER,
    PRIMARY KEY (rollout_id, position)
);

CREATE TABLE node_vectors (
    node_id BIGINT PRIMARY KEY,
    embedding FLOAT[384] NOT NULL
);

CREATE TABLE problem_vectors (
    problem_id BIGINT PRIMARY KEY,
    embedding FLOAT[384] NOT NULL
);

CREATE TABLE step_scores (
    node_id BIGINT NOT NULL,
    scorer VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    run_id BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE experiences (
    experience_id BIGINT PRIMARY KEY,
    problem_id BIGINT NOT NULL,
    node_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('positive', 'negative')),
    content VARCHAR NOT NULL,
    visits BIGINT NOT NULL,
    value DOUBLE NOT NULL,
    source_rollouts BIGINT[] NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (node_id, kind)
);

CREATE INDEX rollouts_problem ON rollouts (problem_id);
CREATE INDEX edges_child ON edges (child_id);
CREATE INDEX rollout_steps_node ON rollout_steps (node_id);
