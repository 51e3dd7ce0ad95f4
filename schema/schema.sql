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
    vote_answer VARCHAR,                    -- (0003) majority vote of the rollouts at the last vote backup
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
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    agrees_with_vote BOOLEAN                -- (0003) answer matches problems.vote_answer; NULL before a vote backup
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
    vote_graded BIGINT NOT NULL DEFAULT 0,     -- (0003) rollouts through here with no gold grade but a vote outcome
    vote_successes BIGINT NOT NULL DEFAULT 0,  -- (0003) of those, rollouts agreeing with the majority vote
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

-- ---------------------------------------------------------------------------
-- Query surface (migration 0002): documented views and graph table macros.
-- The graph_* views are stable across releases; the tables above may change.
-- docs/sql.md describes them with example queries.

-- The parent each node is drawn under when a walk needs one path: the edge
-- taken by the most rollouts, then the lowest parent id.
CREATE VIEW graph_primary_parents AS
SELECT child_id AS node_id, parent_id, traversals
FROM edges
QUALIFY row_number() OVER (PARTITION BY child_id ORDER BY traversals DESC, parent_id) = 1;

-- Each node's children ranked best first: highest value, then most visits, then lowest id.
CREATE VIEW graph_ranked_children AS
SELECT
    e.parent_id,
    e.child_id,
    row_number() OVER (PARTITION BY e.parent_id ORDER BY n.value DESC, n.visits DESC, e.child_id) AS rank,
    e.traversals,
    n.depth,
    n.step_text,
    n.value,
    n.visits,
    n.successes,
    n.terminal_visits,
    n.answer
FROM edges e
JOIN nodes n ON n.node_id = e.child_id;

CREATE VIEW graph_problems AS
SELECT
    p.problem_id,
    p.namespace,
    p.dataset,
    p.source_id,
    p.question,
    p.gold_answer,
    p.created_at,
    coalesce(r.n_rollouts, 0) AS n_rollouts,
    coalesce(r.n_correct, 0) AS n_correct,
    coalesce(n.n_nodes, 0) AS n_nodes,
    n.root_node_id
FROM problems p
LEFT JOIN (
    SELECT problem_id, count(*) AS n_rollouts, count(*) FILTER (WHERE is_correct) AS n_correct
    FROM rollouts GROUP BY problem_id
) r USING (problem_id)
LEFT JOIN (
    SELECT problem_id, count(*) AS n_nodes, min(node_id) FILTER (WHERE depth = 0) AS root_node_id
    FROM nodes GROUP BY problem_id
) n USING (problem_id);

CREATE VIEW graph_runs AS
SELECT
    run_id, namespace, strategy, dataset, model, config, status, started_at, finished_at,
    n_problems, n_correct, accuracy, prompt_tokens, generated_tokens, reused_tokens, model_calls,
    wall_seconds
FROM runs;

CREATE VIEW graph_rollouts AS
SELECT
    rollout_id, problem_id, run_id, source, generator, seed, answer, is_correct, n_steps,
    terminal_node_id, prompt_tokens, generated_tokens, reused_tokens, wall_seconds, score, error,
    created_at
FROM rollouts;

CREATE VIEW graph_nodes AS
SELECT
    n.node_id,
    n.problem_id,
    n.depth,
    n.depth = 0 AS is_root,
    n.step_text,
    n.step_norm,
    n.visits,
    n.graded,
    n.successes,
    n.value,
    n.terminal_visits,
    n.answer,
    n.score,
    coalesce(c.n_children, 0) AS n_children,
    coalesce(p.n_parents, 0) AS n_parents,
    n.created_at,
    n.last_used_at
FROM nodes n
LEFT JOIN (SELECT parent_id, count(*) AS n_children FROM edges GROUP BY parent_id) c ON c.parent_id = n.node_id
LEFT JOIN (SELECT child_id, count(*) AS n_parents FROM edges GROUP BY child_id) p ON p.child_id = n.node_id;

CREATE VIEW graph_edges AS
SELECT
    e.parent_id,
    e.child_id,
    e.problem_id,
    e.step_norm,
    c.step_text,
    e.traversals,
    CASE WHEN p.visits > 0 THEN e.traversals / p.visits END AS traversal_share,
    c.depth AS child_depth,
    c.value AS child_value
FROM edges e
JOIN nodes p ON p.node_id = e.parent_id
JOIN nodes c ON c.node_id = e.child_id;

CREATE VIEW graph_rollout_paths AS
SELECT
    s.rollout_id,
    r.problem_id,
    s.position,
    s.node_id,
    s.step_text,
    s.label,
    n.value AS node_value,
    n.visits AS node_visits,
    s.position = r.n_steps AS is_last,
    r.is_correct AS rollout_is_correct
FROM rollout_steps s
JOIN rollouts r USING (rollout_id)
JOIN nodes n ON n.node_id = s.node_id;

CREATE VIEW graph_experiences AS
SELECT
    x.experience_id,
    x.problem_id,
    x.node_id,
    x.kind,
    x.content,
    x.visits,
    x.value,
    len(x.source_rollouts) AS n_source_rollouts,
    x.source_rollouts,
    n.depth AS node_depth,
    n.step_text AS node_step_text,
    x.created_at
FROM experiences x
LEFT JOIN nodes n ON n.node_id = x.node_id;

-- Walk from a node up to its root, one primary parent per hop. Only the
-- edges of the node's own problem are ranked, so the window function stays
-- small; the filter still scans edges.problem_id once.
CREATE MACRO path_to_root(start_node, max_depth := 64) AS TABLE
WITH RECURSIVE primary_parents AS (
    SELECT e.child_id, e.parent_id
    FROM edges e
    WHERE e.problem_id = (SELECT problem_id FROM nodes WHERE node_id = start_node)
    QUALIFY row_number() OVER (PARTITION BY e.child_id ORDER BY e.traversals DESC, e.parent_id) = 1
), walk(hop, node_id) AS (
    SELECT 0, start_node
    UNION ALL
    SELECT w.hop + 1, pp.parent_id
    FROM walk w
    JOIN primary_parents pp ON pp.child_id = w.node_id
    WHERE w.hop < max_depth
)
SELECT w.hop, n.node_id, n.depth, n.step_text, n.value, n.visits, n.successes
FROM walk w
JOIN nodes n ON n.node_id = w.node_id
ORDER BY w.hop;

-- Every node below a node, at most max_depth edges down; one row per edge reached.
CREATE MACRO subtree(start_node, max_depth := 3) AS TABLE
WITH RECURSIVE problem_edges AS (
    SELECT parent_id, child_id
    FROM edges
    WHERE problem_id = (SELECT problem_id FROM nodes WHERE node_id = start_node)
), walk(distance, parent_id, node_id) AS (
    SELECT 0, CAST(NULL AS BIGINT), CAST(start_node AS BIGINT)
    UNION
    SELECT w.distance + 1, e.parent_id, e.child_id
    FROM walk w
    JOIN problem_edges e ON e.parent_id = w.node_id
    WHERE w.distance < max_depth
)
SELECT w.distance, w.parent_id, n.node_id, n.depth, n.step_text, n.value, n.visits, n.successes,
       n.terminal_visits
FROM walk w
JOIN nodes n ON n.node_id = w.node_id
ORDER BY w.distance, w.parent_id NULLS FIRST, n.node_id;

-- The children of a node, best first.
CREATE MACRO children(parent_node) AS TABLE
SELECT rank, child_id AS node_id, depth, step_text, value, visits, successes, traversals, terminal_visits, answer
FROM graph_ranked_children
WHERE parent_id = parent_node
ORDER BY rank;

-- The greedy best path of a problem: from the root, always the top-ranked
-- child (the ranking of graph_ranked_children, computed for this problem only).
CREATE MACRO best_path(problem, max_depth := 64) AS TABLE
WITH RECURSIVE best_children AS (
    SELECT e.parent_id, e.child_id
    FROM edges e
    JOIN nodes n ON n.node_id = e.child_id
    WHERE e.problem_id = problem AND n.problem_id = problem
    QUALIFY row_number() OVER (PARTITION BY e.parent_id ORDER BY n.value DESC, n.visits DESC, e.child_id) = 1
), walk(hop, node_id) AS (
    SELECT 0, node_id FROM nodes WHERE problem_id = problem AND depth = 0
    UNION ALL
    SELECT w.hop + 1, bc.child_id
    FROM walk w
    JOIN best_children bc ON bc.parent_id = w.node_id
    WHERE w.hop < max_depth
)
SELECT w.hop, n.node_id, n.depth, n.step_text, n.value, n.visits, n.successes, n.terminal_visits, n.answer
FROM walk w
JOIN nodes n ON n.node_id = w.node_id
ORDER BY w.hop;

COMMENT ON VIEW graph_primary_parents IS 'The parent each node is drawn under when a walk needs one path: the edge with the most traversals, then the lowest parent id.';
COMMENT ON COLUMN graph_primary_parents.node_id IS 'Child node.';
COMMENT ON COLUMN graph_primary_parents.parent_id IS 'Its primary parent.';
COMMENT ON COLUMN graph_primary_parents.traversals IS 'Rollouts that took this edge.';

COMMENT ON VIEW graph_ranked_children IS 'Every edge with the child ranked among its siblings: highest value, then most visits, then lowest id.';
COMMENT ON COLUMN graph_ranked_children.parent_id IS 'Parent node.';
COMMENT ON COLUMN graph_ranked_children.child_id IS 'Child node.';
COMMENT ON COLUMN graph_ranked_children.rank IS '1 for the best child of the parent.';
COMMENT ON COLUMN graph_ranked_children.traversals IS 'Rollouts that took this edge.';
COMMENT ON COLUMN graph_ranked_children.depth IS 'Depth of the child (steps from the root).';
COMMENT ON COLUMN graph_ranked_children.step_text IS 'Text of the step that leads to the child.';
COMMENT ON COLUMN graph_ranked_children.value IS 'Child value: (successes + 1) / (graded + 2).';
COMMENT ON COLUMN graph_ranked_children.visits IS 'Rollouts through the child.';
COMMENT ON COLUMN graph_ranked_children.successes IS 'Rollouts through the child graded correct.';
COMMENT ON COLUMN graph_ranked_children.terminal_visits IS 'Rollouts that ended at the child.';
COMMENT ON COLUMN graph_ranked_children.answer IS 'First answer of a rollout ending at the child.';

COMMENT ON VIEW graph_problems IS 'One row per problem, with rollout and node counts and its root node.';
COMMENT ON COLUMN graph_problems.problem_id IS 'Problem id.';
COMMENT ON COLUMN graph_problems.namespace IS 'Bank the problem belongs to.';
COMMENT ON COLUMN graph_problems.dataset IS 'Source dataset: gsm8k, math500, processbench-gsm8k, jsonl, ...';
COMMENT ON COLUMN graph_problems.source_id IS 'Id in the source dataset, such as gsm8k-17.';
COMMENT ON COLUMN graph_problems.question IS 'Problem text as given.';
COMMENT ON COLUMN graph_problems.gold_answer IS 'Reference answer, NULL when unknown.';
COMMENT ON COLUMN graph_problems.created_at IS 'When the problem was first stored.';
COMMENT ON COLUMN graph_problems.n_rollouts IS 'Rollouts stored for the problem.';
COMMENT ON COLUMN graph_problems.n_correct IS 'Of those, rollouts graded correct.';
COMMENT ON COLUMN graph_problems.n_nodes IS 'Nodes of the problem DAG, root included.';
COMMENT ON COLUMN graph_problems.root_node_id IS 'Root node (depth 0), NULL before the first rollout.';

COMMENT ON VIEW graph_runs IS 'One row per search run, with its compute ledger.';
COMMENT ON COLUMN graph_runs.run_id IS 'Run id.';
COMMENT ON COLUMN graph_runs.namespace IS 'Bank the run belongs to.';
COMMENT ON COLUMN graph_runs.strategy IS 'Search strategy: best-of-n, beam, ...';
COMMENT ON COLUMN graph_runs.dataset IS 'Bundled dataset name, if any.';
COMMENT ON COLUMN graph_runs.model IS 'Model file name or backend name.';
COMMENT ON COLUMN graph_runs.config IS 'The search configuration as JSON.';
COMMENT ON COLUMN graph_runs.status IS 'running, finished, interrupted or failed.';
COMMENT ON COLUMN graph_runs.started_at IS 'Start time.';
COMMENT ON COLUMN graph_runs.finished_at IS 'End time, NULL while running.';
COMMENT ON COLUMN graph_runs.n_problems IS 'Problems searched.';
COMMENT ON COLUMN graph_runs.n_correct IS 'Problems whose voted answer was correct.';
COMMENT ON COLUMN graph_runs.accuracy IS 'n_correct / graded problems; NULL when none is graded.';
COMMENT ON COLUMN graph_runs.prompt_tokens IS 'Prompt tokens evaluated (after KV-cache prefix reuse).';
COMMENT ON COLUMN graph_runs.generated_tokens IS 'Tokens sampled from the model.';
COMMENT ON COLUMN graph_runs.reused_tokens IS 'Step tokens taken from the graph instead of generated.';
COMMENT ON COLUMN graph_runs.model_calls IS 'Model calls made.';
COMMENT ON COLUMN graph_runs.wall_seconds IS 'Wall-clock seconds of the run.';

COMMENT ON VIEW graph_rollouts IS 'One row per sampled or ingested solution.';
COMMENT ON COLUMN graph_rollouts.rollout_id IS 'Rollout id.';
COMMENT ON COLUMN graph_rollouts.problem_id IS 'Problem the rollout solves.';
COMMENT ON COLUMN graph_rollouts.run_id IS 'Run that sampled it, NULL for ingested rollouts.';
COMMENT ON COLUMN graph_rollouts.source IS 'search, jsonl, processbench, prm800k-stepwise, ...';
COMMENT ON COLUMN graph_rollouts.generator IS 'Model that wrote it.';
COMMENT ON COLUMN graph_rollouts.seed IS 'Sampler seed, for generated rollouts.';
COMMENT ON COLUMN graph_rollouts.answer IS 'Extracted final answer, NULL when none parsed.';
COMMENT ON COLUMN graph_rollouts.is_correct IS 'Graded against the gold answer, NULL when unknown.';
COMMENT ON COLUMN graph_rollouts.n_steps IS 'Steps in the rollout.';
COMMENT ON COLUMN graph_rollouts.terminal_node_id IS 'Node the rollout ended at.';
COMMENT ON COLUMN graph_rollouts.prompt_tokens IS 'Prompt tokens evaluated for it.';
COMMENT ON COLUMN graph_rollouts.generated_tokens IS 'Tokens sampled for it.';
COMMENT ON COLUMN graph_rollouts.reused_tokens IS 'Step tokens taken from the graph.';
COMMENT ON COLUMN graph_rollouts.wall_seconds IS 'Wall-clock seconds spent on it.';
COMMENT ON COLUMN graph_rollouts.score IS 'Rollout score from a scorer or the source, if any.';
COMMENT ON COLUMN graph_rollouts.error IS 'Why the sample failed; such rollouts have no steps.';
COMMENT ON COLUMN graph_rollouts.created_at IS 'When it was stored.';

COMMENT ON VIEW graph_nodes IS 'Reasoning states (steps): a problem plus the multiset of steps taken so far, with backed-up values.';
COMMENT ON COLUMN graph_nodes.node_id IS 'Node id.';
COMMENT ON COLUMN graph_nodes.problem_id IS 'Problem of the DAG the node belongs to.';
COMMENT ON COLUMN graph_nodes.depth IS 'Steps taken; 0 for the root.';
COMMENT ON COLUMN graph_nodes.is_root IS 'True for the empty state of the problem.';
COMMENT ON COLUMN graph_nodes.step_text IS 'Original text of the step that first reached this state; empty for the root.';
COMMENT ON COLUMN graph_nodes.step_norm IS 'Normalized text of that step (the merge key).';
COMMENT ON COLUMN graph_nodes.visits IS 'Rollouts through this state.';
COMMENT ON COLUMN graph_nodes.graded IS 'Of those, rollouts whose correctness is known.';
COMMENT ON COLUMN graph_nodes.successes IS 'Of those, rollouts graded correct.';
COMMENT ON COLUMN graph_nodes.value IS '(successes + 1) / (graded + 2): Beta(1,1) posterior mean of success.';
COMMENT ON COLUMN graph_nodes.terminal_visits IS 'Rollouts that ended here.';
COMMENT ON COLUMN graph_nodes.answer IS 'First answer extracted by a rollout ending here.';
COMMENT ON COLUMN graph_nodes.score IS 'Latest step score from a scorer, if any.';
COMMENT ON COLUMN graph_nodes.n_children IS 'Outgoing edges.';
COMMENT ON COLUMN graph_nodes.n_parents IS 'Incoming edges (more than one where step orders merge).';
COMMENT ON COLUMN graph_nodes.created_at IS 'When the node was first stored.';
COMMENT ON COLUMN graph_nodes.last_used_at IS 'Last time the planner returned this node.';

COMMENT ON VIEW graph_edges IS 'Transitions between states, with how many rollouts took them.';
COMMENT ON COLUMN graph_edges.parent_id IS 'State before the step.';
COMMENT ON COLUMN graph_edges.child_id IS 'State after the step.';
COMMENT ON COLUMN graph_edges.problem_id IS 'Problem of the DAG.';
COMMENT ON COLUMN graph_edges.step_norm IS 'Normalized text of the step taken.';
COMMENT ON COLUMN graph_edges.step_text IS 'Original text of the step that first reached the child.';
COMMENT ON COLUMN graph_edges.traversals IS 'Rollouts that took this edge.';
COMMENT ON COLUMN graph_edges.traversal_share IS 'traversals / parent visits, NULL when the parent has no visits.';
COMMENT ON COLUMN graph_edges.child_depth IS 'Depth of the child.';
COMMENT ON COLUMN graph_edges.child_value IS 'Value of the child.';

COMMENT ON VIEW graph_rollout_paths IS 'Each rollout as its sequence of nodes, one row per step.';
COMMENT ON COLUMN graph_rollout_paths.rollout_id IS 'Rollout id.';
COMMENT ON COLUMN graph_rollout_paths.problem_id IS 'Problem of the rollout.';
COMMENT ON COLUMN graph_rollout_paths.position IS '1-based step number.';
COMMENT ON COLUMN graph_rollout_paths.node_id IS 'State after this step.';
COMMENT ON COLUMN graph_rollout_paths.step_text IS 'The step as this rollout wrote it.';
COMMENT ON COLUMN graph_rollout_paths.label IS 'Per-step label from the source: 1 right, -1 wrong, 0 neutral, NULL none.';
COMMENT ON COLUMN graph_rollout_paths.node_value IS 'Current value of the node.';
COMMENT ON COLUMN graph_rollout_paths.node_visits IS 'Current visits of the node.';
COMMENT ON COLUMN graph_rollout_paths.is_last IS 'True for the last step of the rollout.';
COMMENT ON COLUMN graph_rollout_paths.rollout_is_correct IS 'Grade of the whole rollout, NULL when unknown.';

COMMENT ON VIEW graph_experiences IS 'Experience annotations distilled from the graph: verified conclusions (positive) and failure patterns (negative).';
COMMENT ON COLUMN graph_experiences.experience_id IS 'Experience id.';
COMMENT ON COLUMN graph_experiences.problem_id IS 'Problem it came from.';
COMMENT ON COLUMN graph_experiences.node_id IS 'Node it came from.';
COMMENT ON COLUMN graph_experiences.kind IS 'positive or negative.';
COMMENT ON COLUMN graph_experiences.content IS 'The step text or pattern.';
COMMENT ON COLUMN graph_experiences.visits IS 'Node visits when distilled.';
COMMENT ON COLUMN graph_experiences.value IS 'Node value when distilled.';
COMMENT ON COLUMN graph_experiences.n_source_rollouts IS 'Rollouts through the node when distilled.';
COMMENT ON COLUMN graph_experiences.source_rollouts IS 'Ids of those rollouts.';
COMMENT ON COLUMN graph_experiences.node_depth IS 'Depth of the node.';
COMMENT ON COLUMN graph_experiences.node_step_text IS 'Step text of the node.';
COMMENT ON COLUMN graph_experiences.created_at IS 'When it was distilled.';

COMMENT ON MACRO TABLE path_to_root IS 'path_to_root(node, max_depth := 64): the node and its primary parents up to the root, hop 0 first.';
COMMENT ON MACRO TABLE subtree IS 'subtree(node, max_depth := 3): the node and every node at most max_depth edges below it, one row per edge reached.';
COMMENT ON MACRO TABLE children IS 'children(node): the children of a node ranked by value, then visits (rank 1 is best).';
COMMENT ON MACRO TABLE best_path IS 'best_path(problem, max_depth := 64): from the root of a problem, always the rank-1 child, until a leaf or max_depth.';

COMMENT ON TABLE problems IS 'Internal table; query graph_problems instead.';
COMMENT ON TABLE runs IS 'Internal table; query graph_runs instead.';
COMMENT ON TABLE run_problems IS 'Per-problem ledger of a run: voted answer, grade and compute.';
COMMENT ON TABLE rollouts IS 'Internal table; query graph_rollouts instead.';
COMMENT ON TABLE nodes IS 'Internal table; query graph_nodes instead.';
COMMENT ON TABLE edges IS 'Internal table; query graph_edges instead.';
COMMENT ON TABLE rollout_steps IS 'Internal table; query graph_rollout_paths instead.';
COMMENT ON TABLE node_vectors IS 'Step embeddings (L2-normalized); the HNSW file is rebuilt from these.';
COMMENT ON TABLE problem_vectors IS 'Problem statement embeddings, for similar-problem retrieval.';
COMMENT ON TABLE step_scores IS 'Scores given to steps by scorers.';
COMMENT ON TABLE experiences IS 'Internal table; query graph_experiences instead.';
COMMENT ON TABLE meta IS 'Database-wide settings, such as the embedder the vectors were made with.';

-- Column docs of the internal tables, for duckdb_columns().
COMMENT ON COLUMN problems.namespace IS 'The bank the problem belongs to.';
COMMENT ON COLUMN problems.dataset IS 'Source dataset: gsm8k, math500, processbench-gsm8k, jsonl, ...';
COMMENT ON COLUMN problems.source_id IS 'Id in the source dataset, such as gsm8k-17.';
COMMENT ON COLUMN problems.question IS 'Problem text as given.';
COMMENT ON COLUMN problems.question_hash IS 'BLAKE2b-128 of the whitespace- and case-folded text.';
COMMENT ON COLUMN problems.gold_answer IS 'Reference answer, NULL when unknown.';
COMMENT ON COLUMN runs.strategy IS 'Search strategy: best-of-n, beam, ...';
COMMENT ON COLUMN runs.dataset IS 'Bundled dataset name, if any.';
COMMENT ON COLUMN runs.model IS 'Model file name or backend name.';
COMMENT ON COLUMN runs.config IS 'The search configuration as JSON.';
COMMENT ON COLUMN runs.status IS 'running, finished, interrupted or failed.';
COMMENT ON COLUMN runs.accuracy IS 'n_correct / graded problems, NULL when none is graded.';
COMMENT ON COLUMN runs.prompt_tokens IS 'Prompt tokens evaluated (after KV-cache prefix reuse).';
COMMENT ON COLUMN runs.generated_tokens IS 'Tokens sampled from the model.';
COMMENT ON COLUMN runs.reused_tokens IS 'Step tokens taken from the graph instead of generated.';
COMMENT ON COLUMN run_problems.answer IS 'Voted answer, NULL when no rollout had one.';
COMMENT ON COLUMN run_problems.is_correct IS 'Grade of the voted answer, NULL when the gold answer is unknown.';
COMMENT ON COLUMN rollouts.run_id IS 'Run that sampled it, NULL for ingested rollouts.';
COMMENT ON COLUMN rollouts.source IS 'Where the rollout came from: search, jsonl, processbench, prm800k-stepwise, ...';
COMMENT ON COLUMN rollouts.generator IS 'Model that wrote it.';
COMMENT ON COLUMN rollouts.seed IS 'Sampler seed, for generated rollouts.';
COMMENT ON COLUMN rollouts.text IS 'Raw generated text, when generated here.';
COMMENT ON COLUMN rollouts.answer IS 'Extracted final answer, NULL when none parsed.';
COMMENT ON COLUMN rollouts.is_correct IS 'Graded against the gold answer, NULL when unknown.';
COMMENT ON COLUMN rollouts.terminal_node_id IS 'The node the rollout ended at.';
COMMENT ON COLUMN rollouts.score IS 'Rollout score from a scorer or the source, if any.';
COMMENT ON COLUMN rollouts.error IS 'Why the sample failed. Such rollouts have no steps.';
COMMENT ON COLUMN nodes.state_key IS 'Order-independent hash of the step multiset, all zeros for the root.';
COMMENT ON COLUMN nodes.depth IS 'Steps taken, 0 for the root.';
COMMENT ON COLUMN nodes.step_text IS 'Original text of the step that first reached this state.';
COMMENT ON COLUMN nodes.step_norm IS 'Normalized text of that step (identity key).';
COMMENT ON COLUMN nodes.visits IS 'Rollouts through this state.';
COMMENT ON COLUMN nodes.graded IS 'Of those, rollouts whose correctness is known.';
COMMENT ON COLUMN nodes.successes IS 'Of those, rollouts graded correct.';
COMMENT ON COLUMN nodes.value IS '(successes + 1) / (graded + 2): Beta(1,1) posterior mean.';
COMMENT ON COLUMN nodes.terminal_visits IS 'Rollouts that ended here.';
COMMENT ON COLUMN nodes.answer IS 'First answer extracted by a rollout ending here.';
COMMENT ON COLUMN nodes.score IS 'Latest step score from a scorer, if any.';
COMMENT ON COLUMN nodes.last_used_at IS 'Last time the planner returned this node.';
COMMENT ON COLUMN edges.step_norm IS 'Normalized text of the step taken.';
COMMENT ON COLUMN rollout_steps.position IS '1-based step number.';
COMMENT ON COLUMN rollout_steps.node_id IS 'State after this step.';
COMMENT ON COLUMN rollout_steps.step_text IS 'The step as this rollout wrote it.';
COMMENT ON COLUMN rollout_steps.label IS 'Per-step label from the source (1 right, -1 wrong, 0 neutral).';
COMMENT ON COLUMN step_scores.scorer IS 'Scorer name: graph-value, arithmetic, self-eval, ...';
COMMENT ON COLUMN step_scores.score IS 'Score in [0, 1].';
COMMENT ON COLUMN experiences.node_id IS 'Node the experience came from.';
COMMENT ON COLUMN experiences.content IS 'The step text or pattern.';
COMMENT ON COLUMN experiences.visits IS 'Support when distilled.';
COMMENT ON COLUMN experiences.value IS 'Node value when distilled.';
COMMENT ON COLUMN experiences.source_rollouts IS 'Ids of the rollouts through the node.';

-- ---------------------------------------------------------------------------
-- Majority-vote outcomes (migration 0003), for problems without a gold answer.
COMMENT ON COLUMN problems.vote_answer IS 'Majority vote of the rollouts at the last vote backup, NULL before one.';
COMMENT ON COLUMN rollouts.agrees_with_vote IS 'Whether the answer matches problems.vote_answer, NULL before a vote backup.';
COMMENT ON COLUMN nodes.vote_graded IS 'Rollouts through this node without a gold grade whose vote agreement is known.';
COMMENT ON COLUMN nodes.vote_successes IS 'Of those, rollouts agreeing with the majority vote.';

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
