-- The invoice details (院校发票信息收集表) a site sent with its application, as
-- read from the form, so finance invoices from checked data, not from a scan.
CREATE TABLE invoice_details (
    plan_id      text NOT NULL REFERENCES plans,
    sha256       text NOT NULL REFERENCES documents,
    details      jsonb NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (plan_id, sha256)
);
