-- certflow schema, version 11: a file certflow produced is recorded once per
-- activity, whichever of its attempts records it.
--
-- A produced file (the national platform's import or update file) was recorded
-- unless a row of the same plan, kind and digest existed. Each attempt writes
-- its file anew, and a workbook carries the time it was saved: a retry (after
-- a lost answer, or started while its first attempt, timed out but not
-- stopped, was still writing) had another digest and was recorded as a second
-- file the plan never held. ``produced_by`` names the activity that produced
-- the row (its workflow run and activity id, the same for every attempt); the
-- index lets one row per activity in, and a retry reads back that row's file.
-- Rows written before this version have none.
ALTER TABLE plan_documents ADD COLUMN produced_by text;

CREATE UNIQUE INDEX plan_documents_produced_by
    ON plan_documents (plan_id, kind, produced_by)
    WHERE produced_by IS NOT NULL;
