-- certflow schema, version 5: why a mail was not sent to everyone.
--
-- A mail the mail server will never take (every recipient or the message
-- refused with a 5xx code) or whose attachment is gone from the document store
-- is given up, so that it no longer holds back the plan's later mails; a mail
-- some of whose recipients were refused is sent to the others. Either way the
-- reason is kept here for operators (never an address): NULL for a mail sent
-- to everyone, or not tried yet.
ALTER TABLE notifications ADD COLUMN failure text;
