-- 0003: majority-vote pseudo-outcomes for rollouts whose gold answer is unknown.
--
-- rollouts.is_correct keeps meaning "graded against the gold answer". Where
-- no gold answer exists, tater_graph.backup.backup_vote stores whether each
-- rollout agrees with the problem's majority vote, and counts those
-- pseudo-outcomes on the nodes of their paths apart from the gold counts.

ALTER TABLE problems ADD COLUMN vote_answer VARCHAR;
ALTER TABLE rollouts ADD COLUMN agrees_with_vote BOOLEAN;
ALTER TABLE nodes ADD COLUMN vote_graded BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN vote_successes BIGINT NOT NULL DEFAULT 0;

COMMENT ON COLUMN problems.vote_answer IS 'Majority vote of the rollouts at the last vote backup, NULL before one.';
COMMENT ON COLUMN rollouts.agrees_with_vote IS 'Whether the answer matches problems.vote_answer, NULL before a vote backup.';
COMMENT ON COLUMN nodes.vote_graded IS 'Rollouts through this node without a gold grade whose vote agreement is known.';
COMMENT ON COLUMN nodes.vote_successes IS 'Of those, rollouts agreeing with the majority vote.';
