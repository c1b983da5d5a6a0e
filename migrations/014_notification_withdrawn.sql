-- certflow schema, version 14: a mail its plan withdrew.
--
-- A plan withdraws a mail it no longer wants sent (a reminder or overdue
-- notice whose duty is done, the mails of a cancelled plan) by writing
-- ``withdrawn_at`` on its row, which ``Notifier.withdraw`` creates when no
-- attempt has yet. ``Notifier.notify`` sends no mail whose row is withdrawn:
-- the plan no longer cancels the activity sending it (the training stack's
-- time-skipping server loses a plan that cancels an activity finishing at
-- that moment), so a later attempt learns of the withdrawal here.
ALTER TABLE notifications ADD COLUMN withdrawn_at timestamptz;
