-- certflow schema, version 20: plans an approval batch's gathering held back.
--
-- A gathering leaves out the plans of a joint payment whose invoices
-- disagree; only their audit trail said so. A plan held back has a row here
-- until a gathering no longer holds it back (``released_at``): the batch whose
-- gathering held it back last (``batch_id``, an id a batch that gathered
-- nothing leaves free), the invoices of its payment as they disagreed then
-- (``invoices``, the plans' numbers, amounts, dates and ways), since when it
-- is held back for them (``held_at``: anew when they change) and when last,
-- and when finance and the general manager were last told of it, by which
-- batch (``told_at``, ``told_batch``). ``certflow status`` shows the open row.
CREATE TABLE IF NOT EXISTS batch_holds (
    plan_id       text PRIMARY KEY REFERENCES plans,
    batch_id      text NOT NULL,
    invoices      jsonb NOT NULL,
    held_at       timestamptz NOT NULL,
    last_held_at  timestamptz NOT NULL,
    told_at       timestamptz,
    told_batch    text,
    released_at   timestamptz
);
