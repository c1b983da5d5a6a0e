-- certflow schema, version 17: a correction request's row names the activity
-- that wrote it.
--
-- A plan that gives up on recording a request (every attempt failed) gives
-- the same request id to its next request. An attempt of the request given
-- up, timed out but not stopped, could still write its row under that id,
-- and the next request, finding the row there, kept it: decided and applied
-- under its id, the first request's content was applied. ``recorded_by``
-- names the activity that wrote the row (its workflow run and activity id,
-- the same for every attempt) and ``scheduled_at`` when the plan asked for
-- it: a later activity of the same id takes the row over, an earlier one
-- (given up) writes nothing. Rows written before this version have neither.
--
-- ``IF NOT EXISTS``: this migration was numbered 16 on its branch, and a
-- database migrated there has it under that name (``migrate`` goes by names).
ALTER TABLE correction_requests
    ADD COLUMN IF NOT EXISTS recorded_by text,
    ADD COLUMN IF NOT EXISTS scheduled_at timestamptz;
