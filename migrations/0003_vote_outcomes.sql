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
