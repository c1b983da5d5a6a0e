-- certflow schema, version 6: why the requester of a mail was not answered.
--
-- A reply the mail server will never take (every recipient refused with a 5xx
-- code, the message refused) or whose address the mail program refuses as
-- malformed is given up, so that one mail no longer holds back the whole
-- mailbox. The reason is kept here for staff (never the address): NULL for a
-- mail answered, not answered yet, or not to be answered.
ALTER TABLE mail_messages ADD COLUMN reply_failure text;
