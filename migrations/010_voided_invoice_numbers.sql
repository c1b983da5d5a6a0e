-- certflow schema, version 10: a voided invoice's number is never recorded again.
--
-- A payment sent back to be checked again voids the invoice its plan held; the
-- plan's ``void_invoice`` audit line names the number (``details ->> 'invoice'``)
-- with when and by whom. In Chinese invoicing a voided invoice's number is
-- never issued again, so ``PlanStore.record_finance`` refuses any number such
-- a line names, on any plan, the plan that voided it included; this index
-- finds the line. A number ``invoice_numbers`` lets go (corrected, or its plan
-- cancelled) without a void is free again as before.
--
-- Voids written before they had an audit line of their own (workflow patch
-- ``invoice-void-audited``) are not known here: the plan's status still lists
-- them, and the number stays its plan's until the plan records another.
CREATE INDEX audit_voided_invoice ON audit ((details ->> 'invoice'))
    WHERE action = 'void_invoice';
