-- certflow schema, version 7: a mail that did not reach everyone can be sent again.
--
-- A mail given up (every recipient or the message refused, its attachment
-- damaged) or partly refused was lost to the people concerned: nothing could
-- send it once its cause was fixed. Each mail now keeps what it said (the
-- notification itself, ``note``: NULL for a mail recorded before this version,
-- which therefore cannot be sent again), a number staff can name it by, when
-- and how it failed, and whose configured addresses were refused (roles, never
-- addresses). An admin sends it again to chosen roles from the staff tool;
-- each attempt is a row of ``notification_resends`` with its own idempotency
-- key (the resend workflow's id), who asked and what became of it.
ALTER TABLE notifications
    ADD COLUMN id bigserial UNIQUE,
    ADD COLUMN note jsonb,
    ADD COLUMN failure_type text,
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN refused_roles text[];

CREATE TABLE notification_resends (
    resend_key     text PRIMARY KEY,
    notification   bigint NOT NULL REFERENCES notifications (id),
    attempt        integer NOT NULL,
    roles          text[] NOT NULL,
    recipients     text[] NOT NULL,
    requested_by   text NOT NULL,
    requested_at   timestamptz NOT NULL,
    sent_at        timestamptz,
    failure        text,
    failure_type   text,
    refused_roles  text[],
    UNIQUE (notification, attempt)
);
