-- certflow schema, version 22: the correction requests a plan gave up on.
--
-- A plan gives up on recording a request when every attempt of
-- ``record_correction`` failed; an attempt timed out but not stopped may
-- still write the request's row later. Such a row is no request the plan
-- took, yet every reader of ``correction_requests`` saw it until the plan's
-- next request took its id over. The plan now records when it gave up on a
-- request id (``given_up_at``, the plan's clock): the rows of that id by an
-- activity the plan asked for before then (``scheduled_at``) are removed,
-- and such an activity writing late writes nothing. A later request of the
-- same id, asked for after, is recorded as usual.
CREATE TABLE IF NOT EXISTS correction_given_up (
    request_id   text PRIMARY KEY,
    plan_id      text NOT NULL REFERENCES plans,
    given_up_at  timestamptz NOT NULL
);
