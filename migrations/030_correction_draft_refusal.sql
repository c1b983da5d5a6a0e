-- certflow schema, version 30: a correction request's refusal, kept with its
-- draft.
--
-- The plan's refusal of a request whose personal parts wait in a draft may
-- quote them (a score asked that is no score, a published score that is not
-- the one on record, and that one). Sent back through the plan, those words
-- stayed in its Temporal history. The record_correction activity keeps them
-- here, as the problems' JSON, and answers the plan by problem code only; the
-- request's sender reads them before it deletes the draft.
ALTER TABLE correction_drafts ADD COLUMN IF NOT EXISTS refused jsonb;
