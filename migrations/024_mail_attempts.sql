-- certflow schema, version 24: what the last attempt to send a waiting mail met.
--
-- A mail the mail server does not take yet (away, busy, refusing every mail
-- for now) is retried at least once a minute, and only the workflow's history
-- said how often and why: `certflow notice failed` said nothing was
-- undelivered while mails waited. Each failed attempt now writes its number,
-- when it was made and the kind and text of its error (never an address) on
-- the mail's row; a mail sent or given up keeps the last ones it met.
ALTER TABLE notifications
    ADD COLUMN IF NOT EXISTS attempts integer,
    ADD COLUMN IF NOT EXISTS last_tried_at timestamptz,
    ADD COLUMN IF NOT EXISTS last_error_type text,
    ADD COLUMN IF NOT EXISTS last_error text;

ALTER TABLE notification_resends
    ADD COLUMN IF NOT EXISTS attempts integer,
    ADD COLUMN IF NOT EXISTS last_tried_at timestamptz,
    ADD COLUMN IF NOT EXISTS last_error_type text,
    ADD COLUMN IF NOT EXISTS last_error text;
