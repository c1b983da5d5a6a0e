-- certflow schema, version 19: a cancelled plan's invoice number stays taken.
--
-- A plan cancelled while it held an invoice leaves that invoice to finance to
-- reverse (红字发票): it is not issued again, so its number is never recorded
-- again, on any plan, as a voided invoice's is (version 10). The plan's
-- ``cancel_plan`` audit line names the number it held (``details ->>
-- 'invoice'``); ``PlanStore.record_finance`` refuses any number such a line
-- names, and this index finds the line. Plans cancelled before this version
-- let go of their number, and it stays free.
CREATE INDEX audit_cancelled_invoice ON audit ((details ->> 'invoice'))
    WHERE action = 'cancel_plan';
