-- certflow schema, version 21: plans held out of approval by their payment.
--
-- A score correction applied after finance confirmed a plan's payment may
-- change what the payment must cover. The plan then holds a payment
-- difference open until finance settles it, and, where an invoice was
-- recorded for the old total, until finance corrects the invoice. The plan
-- writes here what holds it (``reason``: ``difference`` or ``invoice``; NULL
-- once nothing does), with the figures staff are shown (``details``), at the
-- plan's clock (``at``: a late write never undoes a newer one). An approval
-- batch's gathering leaves such a plan out, as it leaves out the plans of a
-- joint payment whose invoices disagree, and keeps it in ``batch_holds``
-- with what held it (``payment_hold``, the reason and figures).
CREATE TABLE IF NOT EXISTS payment_holds (
    plan_id  text PRIMARY KEY REFERENCES plans,
    reason   text,
    details  jsonb NOT NULL DEFAULT '{}',
    at       timestamptz NOT NULL
);

ALTER TABLE batch_holds ADD COLUMN IF NOT EXISTS payment_hold jsonb;
