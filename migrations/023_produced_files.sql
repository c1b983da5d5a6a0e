-- certflow schema, version 23: the files each attempt of an activity stored.
--
-- An activity producing files (an approval batch's report, a plan's
-- consistency report or platform file) stores them before it records or
-- returns them, and each attempt builds them anew: a workbook carries the
-- second it was saved, so a retry's files are others than its first
-- attempt's. An attempt that failed after storing its files (or timed out)
-- left them in the store with no record naming them. An attempt now names
-- each file here before storing it (``produced_by``: the activity's workflow
-- run and activity id, the same for every attempt; ``attempt``: its number);
-- once it ends, the files of the activity's earlier attempts, and its own it
-- does not keep, are taken back out of the store unless a record names them
-- (see activities/document_records.py). The rows of the files kept stay: an
-- approval batch's report is named by them alone.
CREATE TABLE IF NOT EXISTS produced_files (
    produced_by  text NOT NULL,
    attempt      integer NOT NULL,
    sha256       text NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (produced_by, attempt, sha256)
);

CREATE INDEX IF NOT EXISTS produced_files_sha256 ON produced_files (sha256);
