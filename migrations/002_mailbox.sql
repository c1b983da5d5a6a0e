-- certflow schema, version 2: the messages of the exam mailbox and what became
-- of each (registered, refused, left for staff, ignored).

-- One row per mail, whatever number of times it was delivered: the dedupe key
-- (sender + Message-ID) tells two deliveries of one mail from two mails. A row
-- is written once the mail's requests were submitted to their plans, before the
-- reply is sent and before the source forgets the message, so a restart finds
-- it and only finishes what is left (send the reply, acknowledge).
CREATE TABLE mail_messages (
    dedupe_key        text PRIMARY KEY,
    message_id        text NOT NULL,
    sender            text NOT NULL,  -- the address only, lower-cased
    subject           text NOT NULL,
    received_at       timestamptz NOT NULL,  -- the mail's Date, else when fetched
    source_key        text NOT NULL,  -- the source's key of the first delivery
    status            text NOT NULL
        CHECK (status IN ('received', 'refused', 'unmatched', 'assigned', 'ignored')),
    plan_id           text,  -- the first plan the mail names, when it names one
    request_ids       text[] NOT NULL DEFAULT '{}',
    reasons           text NOT NULL DEFAULT '',  -- why not registered, one per line
    raw_sha256        text NOT NULL,  -- the raw message in the document store
    processed_at      timestamptz NOT NULL,
    -- The automatic reply, composed before it is sent and kept in the document
    -- store, so a resend after a crash is the same message with the same id.
    reply_sha256      text,
    reply_message_id  text,
    replied_at        timestamptz,
    assigned_by       text,
    assigned_at       timestamptz
);
CREATE INDEX mail_messages_status ON mail_messages (status, received_at);
