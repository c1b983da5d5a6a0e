-- certflow schema, version 15: each plan's invoice keeps its amount and date.
--
-- An invoice number names one invoice, with one amount and one date, and a
-- joint payment (合并缴费) is invoiced one way: one invoice for the whole
-- payment, carried by every plan of it with the payment's total, or one
-- invoice per plan for the plan's own amount, each under a number of its own.
-- ``PlanStore.record_finance`` compares a record with what the other plans
-- carry (``certflow.joint_invoice``), which needs each plan's values here:
-- ``amount`` and ``issued_on`` as recorded with the number, and
-- ``whole_payment`` true for an invoice of the payment's total, false for
-- one of the plan's own amount.
--
-- Rows written before this version get the date of their plan's latest
-- accepted record of the number from the audit trail; their amount and kind
-- stay NULL and are not compared: a plan of a joint payment then recorded
-- its own part of a shared invoice, as accepted at the time.
ALTER TABLE plan_invoices
    ADD COLUMN amount numeric(12, 2),
    ADD COLUMN issued_on date,
    ADD COLUMN whole_payment boolean;

UPDATE plan_invoices AS held SET issued_on = (
    SELECT (audit.details ->> 'issued_on')::date FROM audit
    WHERE audit.plan_id = held.plan_id AND audit.accepted
        AND audit.action IN ('record_invoice', 'correct_invoice')
        AND audit.details ->> 'invoice' = held.number
        AND audit.details ->> 'issued_on' ~ '^\d{4}-\d{2}-\d{2}$'
    ORDER BY audit.at DESC, audit.id DESC LIMIT 1
);
