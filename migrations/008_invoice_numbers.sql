-- certflow schema, version 8: each invoice number belongs to one payment.
--
-- An invoice is issued for one payment, and one payment may cover several
-- plans (合并缴费): the same 发票号码 on two plans is right only when both are
-- of that payment. ``invoice_numbers`` gives each number its payment (the
-- sorted, comma-joined plan ids the site's application paid for); its primary
-- key makes two plans recording the same number at once wait for each other,
-- and the second sees the first's payment. ``plan_invoices`` says which
-- number each plan holds now: a corrected number replaces it, and a number
-- no plan holds any longer is free again.
--
-- Numbers recorded before this version are not read back: they were never
-- checked and may be blank or not numbers at all.
CREATE TABLE invoice_numbers (
    number   text PRIMARY KEY,
    payment  text NOT NULL
);

CREATE TABLE plan_invoices (
    plan_id      text PRIMARY KEY REFERENCES plans,
    number       text NOT NULL REFERENCES invoice_numbers,
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX plan_invoices_number ON plan_invoices (number);
