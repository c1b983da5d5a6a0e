-- certflow schema, version 25: no ID number kept whole in a mail's subject.
--
-- Senders name candidates in a mail's subject, an ID number too ("张三
-- 421002200506166066 成绩复核"), and `mail_messages.subject` kept it whole,
-- for `certflow mailbox list --subjects` to show. The intake now stores the
-- subject masked (certflow.privacy.mask_id_numbers_anywhere: the first 4
-- and the last 4 characters kept); the subjects stored before are masked
-- here alike, each run of 15 or more ASCII digits (with an X after it, if
-- one follows). A number typed in groups or in full-width digits in an old
-- subject is left as it is: what reads it so is the Python masking alone.
-- The raw mail in the document store keeps its subject as sent.
DO $$
DECLARE
    row record;
    masked text;
    run text[];
BEGIN
    FOR row IN
        SELECT dedupe_key, subject FROM mail_messages WHERE subject ~ '[0-9]{15}'
    LOOP
        masked := row.subject;
        FOR run IN SELECT regexp_matches(row.subject, '[0-9]{15,}[Xx]?', 'g') LOOP
            masked := replace(
                masked,
                run[1],
                left(run[1], 4) || repeat('*', length(run[1]) - 8) || right(run[1], 4)
            );
        END LOOP;
        UPDATE mail_messages SET subject = masked WHERE dedupe_key = row.dedupe_key;
    END LOOP;
END
$$;
