-- certflow schema, version 4: which workflow run registered each plan.
--
-- The workflow id is derived from the plan id, so it cannot tell a retried
-- registration from a new workflow that reuses the plan id (Temporal's own
-- store reset, a second stack on this database). The first run id of the
-- registering workflow can; rows from before this column have none.
ALTER TABLE plans ADD COLUMN first_run_id text;
