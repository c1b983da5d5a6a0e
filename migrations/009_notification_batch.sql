-- certflow schema, version 9: the approval batch a mail belongs to.
--
-- An approval batch's mails (``batch_ready``, ``batch_ready_without_report``)
-- belong to no plan: their ``plan_id`` is '-', and ``notice failed --plan``
-- could not select them. ``batch_id`` names their batch (NULL for a plan's
-- mail), so an admin lists them with ``notice failed --batch``. Mails recorded
-- before take it from their kept content (version 7 on) or, kept without
-- content, from their idempotency key, which the batch's workflow made
-- ``approval-batch-<batch id>/<template>``.
ALTER TABLE notifications ADD COLUMN batch_id text;

UPDATE notifications
SET batch_id = COALESCE(
    note -> 'fields' ->> 'batch_id',
    substring(idempotency_key FROM '^approval-batch-(.+)/[^/]+$')
)
WHERE plan_id = '-';

CREATE INDEX notifications_batch ON notifications (batch_id)
    WHERE batch_id IS NOT NULL;
