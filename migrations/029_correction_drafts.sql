-- certflow schema, version 29: a correction request's personal parts, kept
-- apart from the plan's history.
--
-- A correction request names a candidate's scores, the reason, who asks and
-- their address. Sent with the request, they stayed in the plan's Temporal
-- history for good, shown in the Web UI to every operator. The sender (the
-- staff tool, the exam mailbox) keeps them here under a random key and sends
-- the key; the plan's record_correction activity reads them into
-- correction_requests and deletes the draft in the same transaction. A draft
-- the plan refused is deleted by its sender; one left behind (the sender
-- stopped before the plan answered) is deleted a day after it was written.
CREATE TABLE IF NOT EXISTS correction_drafts (
    draft_key        text PRIMARY KEY,
    plan_id          text NOT NULL,
    published_score  text NOT NULL,
    requested_score  text NOT NULL,
    reason           text NOT NULL,
    requester        text NOT NULL,
    requester_email  text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS correction_drafts_created ON correction_drafts (created_at);
