-- certflow schema, version 12: one attempt at a time sends a mail.
--
-- An activity attempt that timed out is retried while it may still run (the
-- mail activities do not heartbeat, so the worker does not stop it): the
-- retry found the mail not sent yet and sent it too, and its people got it
-- twice. The attempt about to send a mail or a resend now claims it on its
-- row, in one statement: ``sending_since`` says since when. Another attempt
-- finds it claimed and is retried until the first has recorded what came of
-- it, which clears the claim, as does a failure that is retried. A claim left
-- by an attempt that died half-way (its worker killed) lapses after ten
-- minutes (``activities.notify.SEND_CLAIM``), and the mail is then sent.
ALTER TABLE notifications ADD COLUMN sending_since timestamptz;
ALTER TABLE notification_resends ADD COLUMN sending_since timestamptz;
