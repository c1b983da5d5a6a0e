-- certflow schema, version 1: plans, scores and their history, documents, the
-- audit trail, corrections, approval batches and certificates.

CREATE TABLE plans (
    plan_id        text PRIMARY KEY,
    workflow_id    text NOT NULL,
    site_code      text NOT NULL,
    site_name      text NOT NULL,
    certificate    text NOT NULL,
    level          text NOT NULL,
    module_code    text NOT NULL,
    module_name    text NOT NULL,
    exam_end_date  date NOT NULL,
    stage          text NOT NULL,
    overdue        boolean NOT NULL DEFAULT false,
    next_deadline  timestamptz,
    -- The open approval batch holding the plan; one at most, by construction.
    batch_id       text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX plans_stage ON plans (stage) WHERE batch_id IS NULL;

CREATE TABLE documents (
    sha256      text PRIMARY KEY,
    size        bigint NOT NULL,
    media_type  text NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now()
);

-- Every upload, accepted or refused, and every file certflow produced for a plan.
CREATE TABLE plan_documents (
    id           bigserial PRIMARY KEY,
    plan_id      text NOT NULL REFERENCES plans,
    kind         text NOT NULL,
    version      integer,
    sha256       text NOT NULL REFERENCES documents,
    filename     text NOT NULL DEFAULT '',
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    accepted     boolean NOT NULL,
    problems     integer NOT NULL DEFAULT 0,
    UNIQUE (plan_id, kind, version)
);

-- Each accepted score summary version, kept whole (rows below) for the record.
CREATE TABLE score_versions (
    plan_id      text NOT NULL REFERENCES plans,
    version      integer NOT NULL,
    sha256       text NOT NULL REFERENCES documents,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    candidates   integer NOT NULL,
    passed       integer NOT NULL,
    PRIMARY KEY (plan_id, version)
);

CREATE TABLE score_rows (
    plan_id           text NOT NULL,
    version           integer NOT NULL,
    admission_number  text NOT NULL,
    module_code       text NOT NULL,
    seq               integer,
    name              text NOT NULL,
    id_type           text NOT NULL,
    id_number         text NOT NULL,
    theory            numeric(5, 2),
    practical         numeric(5, 2),
    total             numeric(5, 2),
    status            text NOT NULL,
    passed            boolean NOT NULL,
    remark            text NOT NULL DEFAULT '',
    PRIMARY KEY (plan_id, version, admission_number, module_code),
    FOREIGN KEY (plan_id, version) REFERENCES score_versions
);

-- The organisation's score database: the current score of each candidate and
-- module, replaced by a newer accepted summary and changed by corrections.
CREATE TABLE scores (
    plan_id           text NOT NULL REFERENCES plans,
    admission_number  text NOT NULL,
    module_code       text NOT NULL,
    seq               integer,
    name              text NOT NULL,
    id_type           text NOT NULL,
    id_number         text NOT NULL,
    theory            numeric(5, 2),
    practical         numeric(5, 2),
    total             numeric(5, 2),
    status            text NOT NULL,
    passed            boolean NOT NULL,
    source_version    integer NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (plan_id, admission_number, module_code)
);

-- Every change of a current score: who, when, why, old, new, which request.
CREATE TABLE score_history (
    id                bigserial PRIMARY KEY,
    plan_id           text NOT NULL,
    admission_number  text NOT NULL,
    module_code       text NOT NULL,
    field             text NOT NULL,
    old_value         text,
    new_value         text,
    changed_by        text NOT NULL,
    changed_at        timestamptz NOT NULL,
    reason            text NOT NULL,
    request_id        text,
    summary_version   integer
);
CREATE INDEX score_history_candidate ON score_history (plan_id, admission_number);

CREATE TABLE sign_ins (
    plan_id           text NOT NULL REFERENCES plans,
    kind              text NOT NULL,  -- candidates | evaluators
    version           integer NOT NULL,
    seq               integer,
    name              text NOT NULL,
    id_number         text NOT NULL DEFAULT '',
    admission_number  text NOT NULL DEFAULT '',
    staff_id          text NOT NULL DEFAULT '',
    role_text         text NOT NULL DEFAULT '',
    signed            boolean NOT NULL DEFAULT true
);
CREATE INDEX sign_ins_plan ON sign_ins (plan_id, kind, version);

CREATE TABLE audit (
    id               bigserial PRIMARY KEY,
    plan_id          text NOT NULL,
    action           text NOT NULL,
    role             text,
    person           text,
    at               timestamptz NOT NULL,
    accepted         boolean NOT NULL,
    late             boolean NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}',
    idempotency_key  text NOT NULL UNIQUE
);
CREATE INDEX audit_plan ON audit (plan_id, at);

-- One row per mail sent, so a retried activity never sends a mail twice.
CREATE TABLE notifications (
    idempotency_key  text PRIMARY KEY,
    plan_id          text NOT NULL,
    template         text NOT NULL,
    recipients       text[] NOT NULL,
    sent_at          timestamptz
);

CREATE TABLE correction_requests (
    request_id        text PRIMARY KEY,
    plan_id           text NOT NULL REFERENCES plans,
    admission_number  text NOT NULL,
    field             text NOT NULL,
    published_score   text NOT NULL,
    requested_score   text NOT NULL,
    reason            text NOT NULL,
    requester         text NOT NULL,
    requester_email   text NOT NULL,
    received_at       timestamptz NOT NULL,
    entered_by        text NOT NULL,
    source_key        text UNIQUE,
    status            text NOT NULL DEFAULT 'pending',
    decided_by        text,
    decided_at        timestamptz,
    decision_reason   text,
    applied_by        text,
    applied_at        timestamptz
);

CREATE TABLE calendar_years (
    year       integer PRIMARY KEY,
    schedule   jsonb NOT NULL,
    source     text NOT NULL,
    loaded_by  text NOT NULL,
    loaded_at  timestamptz NOT NULL
);

CREATE TABLE batches (
    batch_id      text PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    requested_by  text NOT NULL,
    status        text NOT NULL DEFAULT 'open',
    decided_by    text,
    decided_at    timestamptz
);

CREATE TABLE batch_plans (
    batch_id  text NOT NULL REFERENCES batches,
    plan_id   text NOT NULL REFERENCES plans,
    verdict   text,
    reason    text,
    PRIMARY KEY (batch_id, plan_id)
);

-- Sequence counters per certificate-number key, allocated in one transaction
-- with the certificate rows so retries never skip or double a number.
CREATE TABLE certificate_counters (
    key       text PRIMARY KEY,
    last_seq  integer NOT NULL
);

CREATE TABLE certificates (
    number            text PRIMARY KEY,
    plan_id           text NOT NULL REFERENCES plans,
    admission_number  text NOT NULL,
    module_code       text NOT NULL,
    name              text NOT NULL,
    id_type           text NOT NULL,
    id_number         text NOT NULL,
    issued_on         date NOT NULL,
    payload           jsonb NOT NULL,
    key_id            text NOT NULL,
    signature         text NOT NULL,
    pdf_sha256        text REFERENCES documents,
    revoked_on        date,
    revocation_reason text,
    UNIQUE (plan_id, admission_number, module_code)
);
CREATE INDEX certificates_holder ON certificates (id_number);
