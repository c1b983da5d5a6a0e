"""E-mail to the parties of a plan, through a real SMTP server.

Texts come from the mail templates of the message catalogue; recipients come
from configuration by role (and by site code for the site). Each notification
has an idempotency key, so an activity retried after a crash does not send again
a mail that was already delivered.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib
import asyncpg
from temporalio import activity
from temporalio.common import RetryPolicy

from activities.documents import DocumentStore
from certflow.activity_models import Notification
from certflow.config import Settings, SmtpSettings
from certflow.i18n import catalogue, t
from certflow.models import Role
from certflow.timeutil import CST

log = logging.getLogger(__name__)

# How the workflows retry a mail: for ever (the idempotency key keeps a retry
# from sending twice), and at least once a minute, so the mails follow within a
# minute once an absent mail server answers again.
MAIL_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


def template_defaults(template: str) -> dict[str, str]:
    """The fields a template fills in itself when a notification lacks them.

    A field a template gained later is missing from a notification a plan
    scheduled before (a retry after a deploy); ``mail.<template>.defaults``
    says what such a mail reads instead of failing for ever.
    """
    prefix = f"mail.{template}.defaults."
    return {
        key.removeprefix(prefix): text
        for key, text in catalogue().items()
        if key.startswith(prefix)
    }


class Mailer:
    """Sends one message over SMTP with the configured server and credentials."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.smtp.host,
            port=self.smtp.port,
            username=self.smtp.username,
            password=self.smtp.password,
            start_tls=self.smtp.starttls,
            timeout=30,
        )


class Notifier:
    """The notification activity: template + roles -> one mail to all recipients."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        store: DocumentStore,
        mailer: Mailer,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.store = store
        self.mailer = mailer

    def recipients(self, roles: list[Role], site_code: str | None) -> list[str]:
        """The addresses of the given roles; the site's are looked up by site code."""
        found: list[str] = []
        for role in roles:
            if role is Role.SITE:
                found += self.settings.site_recipients.get(site_code or "", [])
            elif role is Role.ADMIN:
                found += self.settings.admins
            else:
                found += self.settings.recipients.get(role, [])
        return list(dict.fromkeys(found))

    @activity.defn
    async def notify(self, note: Notification) -> None:
        """Send the mail unless this notification was already delivered."""
        recipients = self.recipients(note.roles, note.site_code)
        if not recipients:
            log.warning(
                "no recipients configured plan_id=%s template=%s roles=%s",
                note.plan_id,
                note.template,
                ",".join(r.value for r in note.roles),
            )
            return
        status = await self.pool.fetchval(
            """
            INSERT INTO notifications (idempotency_key, plan_id, template, recipients)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (idempotency_key) DO UPDATE SET recipients = EXCLUDED.recipients
            RETURNING sent_at
            """,
            note.idempotency_key,
            note.plan_id,
            note.template,
            recipients,
        )
        if status is not None:
            return

        message = self.compose(note, recipients)
        await self.mailer.send(message)
        await self.pool.execute(
            "UPDATE notifications SET sent_at = now() WHERE idempotency_key = $1",
            note.idempotency_key,
        )
        log.info("mail sent plan_id=%s template=%s", note.plan_id, note.template)

    def compose(self, note: Notification, recipients: list[str]) -> EmailMessage:
        fields = {
            "organisation": self.settings.organisation,
            # The candidates' look-up and verification pages (certflow web).
            "lookup_url": self.settings.certificates.verify_url_base,
            **template_defaults(note.template),
            **note.fields,
        }
        message = EmailMessage()
        message["From"] = self.settings.smtp.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = t(f"mail.{note.template}.subject", **fields)
        # Staff read the time as their mail program shows it: in China, +0800.
        message["Date"] = format_datetime(datetime.now(CST).replace(microsecond=0))
        message["Message-ID"] = make_msgid(domain="certflow.local")
        message["X-Certflow-Plan"] = note.plan_id
        message["X-Certflow-Template"] = note.template
        body = t(f"mail.{note.template}.body", **fields)
        message.set_content(
            f"{body}\n\n{t('mail.signature', **fields)}\n", charset="utf-8"
        )
        for ref in note.attachments:
            data = self.store.get(ref)
            maintype, _, subtype = ref.media_type.partition("/")
            message.add_attachment(
                data,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=ref.filename or ref.sha256[:12],
            )
        return message
