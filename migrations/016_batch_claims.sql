-- certflow schema, version 16: an approval batch's run claims plans once.
--
-- ``claim_ready_plans`` took every plan ready when each of its attempts ran.
-- An attempt that timed out is retried and not stopped: run after its retry,
-- it took the plans that had become ready since into a batch whose workflow
-- had its plans already and never heard of them, and they stayed claimed by
-- a batch that would never decide them. The first attempt of a batch run to
-- claim now writes the run's row here with the plans it took (none, maybe);
-- any other attempt of the run waits for that row and returns its plans,
-- claiming nothing. The row is the run's, not the batch id's: a run that
-- gathered nothing leaves its batch id free for a later run
-- (``certflow batch gather``), which claims afresh.
--
-- ``IF NOT EXISTS``: this migration was numbered 15 on its branch, and a
-- database migrated there has it under that name (``migrate`` goes by names).
CREATE TABLE IF NOT EXISTS batch_claims (
    batch_id    text NOT NULL,
    run_id      text NOT NULL,
    plan_ids    text[] NOT NULL,
    claimed_at  timestamptz NOT NULL,
    PRIMARY KEY (batch_id, run_id)
);
