"""Configuration: one TOML file, with a few environment overrides for the stack.

The file is read by the worker and the staff tools, never by workflow code: the
parts a workflow needs (the deadline policy, the pass rule) are copied into its
input when the plan starts, so a replay never depends on today's configuration.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parseaddr
from math import isclose, isfinite
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from certflow.i18n import t
from certflow.isolation import ReadingBounds
from certflow.mail_address import is_mail_address
from certflow.models import Level, Model, PassRule, Role
from certflow.validation import explain

if TYPE_CHECKING:
    from certflow.certificates.numbering import NumberScheme

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "certflow.toml"
# Relative paths of a configuration file are read from the project folder, so a
# command gives the same answer from whichever folder staff run it in.
PROJECT_DIR = DEFAULT_CONFIG.parent.parent


# Where tomllib's message says the error is; its English words are not shown.
_TOML_AT = re.compile(r"\(at line (?P<line>\d+), column (?P<column>\d+)\)$")
_TOML_AT_END = "(at end of document)"
# Names the signing key where it is kept apart from the state (a secret, or a
# new key during a rotation); applied after CERTFLOW_STATE.
KEY_FILE_ENV = "CERTFLOW_SIGNING_KEY_FILE"


def state_key_file(state: Path) -> Path:
    """Where a state folder keeps its signing key (a local, training or demo
    stack's, made at its first start)."""
    return state / "keys" / "certificate-signing.pem"


def toml_error_position(err: tomllib.TOMLDecodeError) -> tuple[int, int] | None:
    """The line and column tomllib names in its message, if it names one.

    Its ``lineno`` and ``colno`` attributes are newer than Python 3.11, so the
    place is read from the English message, whose words are never shown.
    """
    at = _TOML_AT.search(str(err))
    return None if at is None else (int(at["line"]), int(at["column"]))


def toml_error_at_end(err: tomllib.TOMLDecodeError) -> bool:
    """Whether tomllib found the file ending before what it had begun (an
    array, a string or a table left open): it names no line then."""
    return str(err).endswith(_TOML_AT_END)


def _dotted(location: tuple[int | str, ...]) -> str:
    """A setting as the file names it: ``deadlines.overdue_repeat``, ``fees.1.fee``.

    Items of a list are counted from 1, as staff count the tables of a file.
    """
    return ".".join(str(p + 1) if isinstance(p, int) else p for p in location)


def _settings_in(
    model: type[BaseModel], data: object, prefix: str = ""
) -> Iterator[tuple[str, object, object]]:
    """Every key of ``data`` with the annotation of the field that reads it.

    The annotation is None for a key no field reads. Sections (fields whose
    type is a model, or a list of models, ``[[fees]]``) are walked into, their
    items counted from 1; tables keyed by the operator (``recipients``) are not.
    """
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        field = model.model_fields.get(str(key))
        name = f"{prefix}{key}"
        yield name, None if field is None else field.annotation, value
        section = None if field is None else _section_model(field.annotation)
        if section is None:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            at = f"{name}.{index + 1}." if isinstance(value, list) else f"{name}."
            yield from _settings_in(section, item, at)


def unknown_keys(model: type[BaseModel], data: object) -> list[str]:
    """The keys of ``data`` that no field of ``model`` (or its sections) reads."""
    return [
        name for name, annotation, _ in _settings_in(model, data) if annotation is None
    ]


def bare_durations(model: type[BaseModel], data: object) -> list[str]:
    """The durations given as plain numbers, which would be read as seconds.

    ``remind_before = [3, 1]`` means three days to whoever writes it and
    three seconds to pydantic: a duration must be written out (``"P3D"``).
    """
    found = []
    for name, annotation, value in _settings_in(model, data):
        if annotation == timedelta or annotation == list[timedelta]:
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, int | float) for v in values):
                found.append(name)
    return found


def _section_model(annotation: object) -> type[BaseModel] | None:
    """The model a field's values are read into, if it is a section of models."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (None,)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def malformed_toml(path: Path, err: tomllib.TOMLDecodeError, kind: str) -> str:
    """A malformed TOML file, said in Chinese with the line and column of the error.

    ``kind`` names the kind of file as staff know it (``config.file``,
    ``cli.plan_file``).
    """
    if (at := toml_error_position(err)) is not None:
        line, column = at
        return t("config.toml_invalid", file=kind, path=path, line=line, column=column)
    if toml_error_at_end(err):
        return t("config.toml_invalid_end", file=kind, path=path)
    return t("config.toml_invalid_somewhere", file=kind, path=path)


def not_utf8(path: Path, kind: str) -> str:
    """A TOML file in another encoding (GBK, say), refused naming the file."""
    return t("config.not_utf8", file=kind, path=path)


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which file and where."""


def at_least(minimum: timedelta, message: str) -> AfterValidator:
    """A duration setting's check: ``minimum`` or more, else ``config.<message>``."""

    def check(value: timedelta) -> timedelta:
        if value < minimum:
            raise ValueError(t(f"config.{message}"))
        return value

    return AfterValidator(check)


class DeadlinePolicy(Model):
    """When owners are reminded and supervisors told (PROCESS.md, "Deadlines").

    Offsets and intervals are configuration, not code: a reminder is sent at each
    ``remind_before`` ahead of the deadline; once it has passed, the owner and the
    supervisor role are told at once and again every ``overdue_repeat``.
    """

    remind_before: list[timedelta] = Field(
        default_factory=lambda: [timedelta(days=3), timedelta(days=1)]
    )
    # Zero would repeat the overdue notice without end (and divides by it).
    overdue_repeat: Annotated[
        timedelta, at_least(timedelta(hours=1), "overdue_repeat_too_short")
    ] = timedelta(days=2)
    # Days after finance confirms a payment within which it invoices it. The
    # procedure gives none, so by default the invoice has no deadline (and no
    # reminders); an organisation that sets one gets them, also after issuance.
    invoice_days: int | None = Field(default=None, ge=0, le=366)
    # Working days the tech dept has to mend what holds certificates out of
    # issuance, or blocks it, and issue them again. The procedure gives none;
    # certflow gives one (docs/process.md): candidates wait for them.
    issuance_repair_working_days: int = Field(default=3, ge=1, le=60)
    # The info center applies an approved correction by the publicity end
    # day, and in no fewer than these working days after the approval. The
    # procedure gives none; certflow gives one (docs/process.md): the tech
    # dept cannot sign the plan off until it is applied.
    correction_apply_working_days: int = Field(default=3, ge=1, le=60)
    # A duty the procedure gives no deadline (finance's payment check, the
    # invoice, the site's sign-off, …) is never overdue: its owner is nudged
    # once it has waited this many working days, and again every as many
    # while it stays open (docs/process.md, "Deadlines and escalation"). 0
    # turns nudges off.
    nudge_working_days: int = Field(default=5, ge=0, le=60)

    @field_validator("remind_before")
    @classmethod
    def _reminders_come_before(cls, value: list[timedelta]) -> list[timedelta]:
        if any(offset <= timedelta(0) for offset in value):
            raise ValueError(t("config.remind_before_not_before"))
        return value

    supervisors: dict[Role, Role] = Field(
        default_factory=lambda: {
            Role.LEAD_EVALUATOR: Role.REGIONAL_CONTACT,
            Role.EVALUATOR: Role.REGIONAL_CONTACT,
            Role.SITE: Role.REGIONAL_CONTACT,
            Role.REGIONAL_CONTACT: Role.REGIONAL_MANAGER,
            Role.REGIONAL_MANAGER: Role.GENERAL_MANAGER,
            Role.INFO_CENTER: Role.GENERAL_MANAGER,
            Role.TECH_DEPT: Role.GENERAL_MANAGER,
            Role.FINANCE: Role.GENERAL_MANAGER,
        }
    )


def _mail_address(value: str) -> str:
    # A typo (a doubled dot, a space, a name) would otherwise be found only by
    # the mail program, at the first mail, and retried for ever: the worker
    # and the staff tools refuse to start instead, naming the setting.
    address = value.strip()
    if not is_mail_address(address):
        raise ValueError(t("config.not_mail_address"))
    return address


MailAddress = Annotated[str, AfterValidator(_mail_address)]


# A TCP port a server listens on.
Port = Annotated[int, Field(ge=1, le=65_535)]


class SmtpSettings(Model):
    host: str = "127.0.0.1"
    port: Port = 8025
    sender: MailAddress = "certflow@example.org"
    username: str | None = None
    password: str | None = None
    starttls: bool = False


class MailboxSettings(Model):
    """The exam mailbox (1+X 考务邮箱) that correction requests are mailed to.

    ``kind`` picks the source: a local maildir at ``path`` (what the local stack
    and fetchmail deliver into) or an IMAP server. ``address`` is the mailbox's
    own address, the From of its automatic replies (default: the SMTP sender).
    """

    kind: Literal["maildir", "imap"] = "maildir"
    path: Path = Path(".state/mailbox/exam")
    host: str = "127.0.0.1"
    port: Port = 143
    user: str = ""
    password: str = ""
    ssl: bool = False
    folder: str = "INBOX"
    processed_folder: str | None = "Processed"
    address: MailAddress | None = None
    # Zero polled in a busy loop: hundreds of polls and history events a second.
    poll_interval: Annotated[
        timedelta, at_least(timedelta(minutes=1), "poll_interval_too_short")
    ] = timedelta(minutes=5)
    # A mail holding more correction requests is refused whole, before any
    # plan is asked: each request is one action on its plan (see
    # docs/corrections.md, "What one message leads to").
    max_requests_per_mail: int = Field(default=100, ge=1, le=1000)


# A setting that cannot be empty (nor only spaces).
Named = Annotated[str, Field(min_length=1, pattern=r"\S")]


def _host_and_port(value: str) -> str:
    # An empty host or port fails inside the client with an English traceback.
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65_535:
        raise ValueError(t("config.not_host_and_port"))
    return value.strip()


class TemporalSettings(Model):
    address: Annotated[str, AfterValidator(_host_and_port)] = "127.0.0.1:7233"
    namespace: Named = "default"
    task_queue: Named = "certflow"


class PassRuleEntry(Model):
    certificate: str
    level: Level
    module_code: str = "*"
    rule: PassRule

    @field_validator("rule")
    @classmethod
    def _somebody_can_pass(cls, rule: PassRule) -> PassRule:
        # Checked here, not on PassRule: plans keep their rule in their input,
        # and an input a plan started with must always read back.
        if not 0 < rule.threshold <= 100:
            raise ValueError(t("config.threshold_out_of_range"))
        weights = (rule.theory_weight, rule.practical_weight)
        if any(not 0 <= w <= 1 for w in weights) or not isclose(sum(weights), 1):
            raise ValueError(t("config.weights_not_one"))
        return rule


def _fee(value: float) -> float:
    # The site's amount must equal head count times the fee, to the cent, and
    # be more than zero: any other fee leaves no amount a plan can ever pay.
    cents = value * 100
    if (
        not isfinite(value)
        or not 0 < value <= 100_000
        or abs(cents - round(cents)) > 1e-6
    ):
        raise ValueError(t("config.fee_not_money"))
    return value


class FeeEntry(Model):
    certificate: str
    level: Level
    fee_per_candidate: Annotated[float, AfterValidator(_fee)]


# The organisation's roles the plans mail ([recipients]); sites have their own
# table, and candidates and evaluators are not mailed.
MAILED_ROLES = (
    Role.LEAD_EVALUATOR,
    Role.REGIONAL_CONTACT,
    Role.REGIONAL_MANAGER,
    Role.INFO_CENTER,
    Role.TECH_DEPT,
    Role.FINANCE,
    Role.GENERAL_MANAGER,
)


def deployment_warnings(settings: Settings) -> list[str]:
    """What a production worker should warn operators of at start.

    The verification address is signed into every certificate: issued with a
    loopback address, their QR codes lead nowhere for anyone else, for good.
    A role with no mail address misses every mail meant for it.
    """
    base = urlsplit(settings.certificates.verify_url_base)
    host = (base.hostname or "").lower()
    warnings = []
    if (unaddressed := unaddressed_warning(settings)) is not None:
        warnings.append(unaddressed)
    if host in ("localhost", "::1") or host.startswith("127."):
        warnings.append(
            "certificates.verify_url_base points at this machine "
            f"({settings.certificates.verify_url_base}); certificates issued now "
            "carry a QR code nobody else can open. Set the public https address."
        )
    elif base.scheme != "https":
        warnings.append(
            f"certificates.verify_url_base is not https "
            f"({settings.certificates.verify_url_base})."
        )
    return warnings


def unaddressed_warning(settings: Settings) -> str | None:
    """What every worker says at start of the roles with no mail address (and
    of no ``admins``), whose mails are recorded as not sent; None if none.

    The production worker says it among :func:`deployment_warnings`; the local
    and training stacks' worker, whose loopback verification address is meant,
    says this alone.
    """
    unaddressed = [
        role.value for role in MAILED_ROLES if not settings.recipients.get(role)
    ]
    if not settings.admins:
        unaddressed.append("admins")
    if not unaddressed:
        return None
    return (
        f"No mail address is configured for {', '.join(unaddressed)}: their"
        " mails are recorded as not sent (certflow notice failed) until one is."
    )


def _web_address(value: str) -> str:
    # Signed into every certificate's QR code; a certificate refuses any other.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(t("config.not_web_address"))
    return value


class CertificateSettings(Model):
    """Where the signing key lives and how certificates are numbered and checked."""

    # PEM of the Ed25519 private key; the local stack creates one on first start.
    signing_key_file: Path = Path(".state/keys/certificate-signing.pem")
    # Public keys of earlier (rotated) signing keys, still trusted for verification.
    previous_public_keys: list[Path] = Field(default_factory=list)
    verify_url_base: Annotated[str, AfterValidator(_web_address)] = (
        "http://127.0.0.1:8080"
    )
    org_code: str = "ZCX"
    number_pattern: str = "{org}{year}{cert}{level}{seq:06d}"
    certificate_codes: dict[str, str] = Field(
        default_factory=lambda: {"汽车运用与维修": "QCYY", "智能新能源汽车": "ZNXN"}
    )

    def number_scheme(self) -> NumberScheme:
        """The scheme certificate numbers are issued and recognised by."""
        from certflow.certificates.numbering import NumberScheme

        return NumberScheme(
            pattern=self.number_pattern,
            org_code=self.org_code,
            certificate_codes=self.certificate_codes,
        )


class WebSettings(Model):
    """The public certificate pages: look-ups allowed per client address, links."""

    # Per address: a school's whole class may look up from one address.
    lookup_per_minute: int = Field(default=60, ge=1, le=100_000)
    # Per name and per ID number, from any address: what stops guessing one
    # person's ID number (or name).
    lookup_per_person_per_minute: int = Field(default=10, ge=1, le=100_000)
    # Then, per name and per ID number, a wait that grows with each look-up
    # that found nothing: after lookup_free_misses misses it is
    # lookup_miss_wait_seconds, doubling with each further miss up to
    # lookup_longest_miss_wait_seconds (docs/web.md, "Rate limits").
    lookup_free_misses: int = Field(default=5, ge=1, le=1000)
    lookup_miss_wait_seconds: int = Field(default=60, ge=1, le=86_400)
    lookup_longest_miss_wait_seconds: int = Field(default=3600, ge=1, le=86_400)
    verify_per_minute: int = Field(default=30, ge=1, le=100_000)
    download_per_minute: int = Field(default=30, ge=1, le=100_000)
    # How long a download link from a look-up stays valid.
    link_lifetime_seconds: int = Field(default=900, ge=60, le=86_400)

    @field_validator("lookup_longest_miss_wait_seconds")
    @classmethod
    def _longest_not_shorter(cls, value: int, info: ValidationInfo) -> int:
        first = info.data.get("lookup_miss_wait_seconds")
        if first is not None and value < first:
            raise ValueError(t("config.longest_miss_wait_too_short"))
        return value


def _database_url(value: str) -> str:
    # Malformed, it failed inside the driver, with a traceback, at first use.
    # Several hosts (h1:5432,h2:5432, for a standby) are the driver's too.
    parts = urlsplit(value.strip())
    hosts = parts.netloc.rpartition("@")[2]
    ports = [h.rpartition("]")[2].partition(":")[2] for h in hosts.split(",")]
    if parts.scheme not in ("postgres", "postgresql") or not all(
        p == "" or (p.isdigit() and 1 <= int(p) <= 65_535) for p in ports
    ):
        raise ValueError(t("config.not_database_url"))
    return value.strip()


# A cron line as Temporal's schedules take one: 5 to 7 fields (minute hour
# day month weekday, with seconds first or a year last), or a shorthand such
# as "@weekly", with an optional "CRON_TZ=…" first. Only its shape is checked
# here: a line such as "every monday" failed when the stack made the schedule.
_CRON_FIELD = re.compile(r"[0-9A-Za-z*?,/#-]+")
_CRON_SHORTHANDS = {
    "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"
}  # fmt: skip


def _cron_line(value: str) -> str:
    fields = value.split()
    if fields and fields[0].startswith("CRON_TZ="):
        fields = fields[1:]
    if len(fields) == 1 and fields[0] in _CRON_SHORTHANDS:
        return value
    if len(fields) == 2 and fields[0] == "@every":
        return value
    if not 5 <= len(fields) <= 7 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise ValueError(t("config.not_cron_line"))
    return value


class Settings(Model):
    """Everything the worker and the staff tools are configured with."""

    database_url: Annotated[str, AfterValidator(_database_url)] = (
        "postgresql://postgres@127.0.0.1:5432/certflow"
    )
    documents_dir: Path = Path(".state/documents")
    output_dir: Path = Path(".state/out")
    organisation: str = "北京中车行高新技术有限公司"
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    deadlines: DeadlinePolicy = Field(default_factory=DeadlinePolicy)
    # Mail addresses of each internal role, and of each site by site code.
    recipients: dict[Role, list[MailAddress]] = Field(default_factory=dict)
    site_recipients: dict[str, list[MailAddress]] = Field(default_factory=dict)
    admins: list[MailAddress] = Field(default_factory=list)
    pass_rules: list[PassRuleEntry] = Field(default_factory=list)
    fees: list[FeeEntry] = Field(default_factory=list)
    certificates: CertificateSettings = Field(default_factory=CertificateSettings)
    # When approval batches are gathered on their own: a cron line read in CST.
    batch_schedule: Annotated[str, AfterValidator(_cron_line)] = "0 9 * * MON"
    mailbox: MailboxSettings = Field(default_factory=MailboxSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    # What reading one upload may take, in a process of its own.
    reading: ReadingBounds = Field(default_factory=ReadingBounds)

    @field_validator("fees", "pass_rules")
    @classmethod
    def _one_entry_each(
        cls, entries: list[FeeEntry] | list[PassRuleEntry]
    ) -> list[FeeEntry] | list[PassRuleEntry]:
        # A second entry for the same certificate and level was silently unused.
        keys = [
            (e.certificate, e.level, getattr(e, "module_code", "*")) for e in entries
        ]
        if len(set(keys)) != len(keys):
            raise ValueError(t("config.duplicate_entry"))
        return entries

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read the TOML file (``CERTFLOW_CONFIG`` or the default) and the overrides.

        ``DATABASE_URL``, ``TEMPORAL_ADDRESS``, ``SMTP_HOST``/``SMTP_PORT`` and
        ``CERTFLOW_STATE`` override the file, so the local stack and tests can
        point one configuration at their own servers.
        """
        named = os.environ.get("CERTFLOW_CONFIG")
        explicit = path or (Path(named) if named else None)
        chosen = explicit or DEFAULT_CONFIG
        if explicit is not None and explicit.is_dir():
            raise ConfigError(t("config.is_folder", path=explicit))
        if explicit is not None and not explicit.is_file():
            # A mistyped name must not quietly run on the defaults (another database).
            raise ConfigError(t("config.missing", path=explicit))
        data: dict[str, object] = {}
        if chosen.is_file():
            try:
                data = tomllib.loads(chosen.read_text(encoding="utf-8"))
            except OSError:
                raise ConfigError(t("config.unreadable", path=chosen)) from None
            except UnicodeDecodeError:
                raise ConfigError(not_utf8(chosen, t("config.file"))) from None
            except tomllib.TOMLDecodeError as err:
                raise ConfigError(
                    malformed_toml(chosen, err, t("config.file"))
                ) from None
        # A misspelt key would otherwise be ignored and its default used.
        if unknown := unknown_keys(cls, data):
            raise ConfigError(
                t("config.unknown_keys", path=chosen, keys="、".join(unknown))
            )
        if bare := bare_durations(cls, data):
            raise ConfigError(
                t("config.bare_durations", path=chosen, keys="、".join(bare))
            )
        try:
            settings = cls.model_validate(data)
        except ValidationError as err:
            # Values are left out (explain never repeats them): the file holds
            # passwords.
            detail = "；".join(explain(err, _dotted))
            raise ConfigError(t("config.invalid", path=chosen, detail=detail)) from None
        return settings.anchored(PROJECT_DIR).with_environment(os.environ)

    def anchored(self, base: Path) -> Settings:
        """These settings with relative paths read from ``base``."""

        def at(path: Path) -> Path:
            return path if path.is_absolute() else base / path

        certificates = self.certificates
        return self.model_copy(
            update={
                "documents_dir": at(self.documents_dir),
                "output_dir": at(self.output_dir),
                "mailbox": self.mailbox.model_copy(
                    update={"path": at(self.mailbox.path)}
                ),
                "certificates": certificates.model_copy(
                    update={
                        "signing_key_file": at(certificates.signing_key_file),
                        "previous_public_keys": [
                            at(p) for p in certificates.previous_public_keys
                        ],
                    }
                ),
            }
        )

    def with_environment(self, env: os._Environ[str] | dict[str, str]) -> Settings:
        update: dict[str, object] = {}
        if url := env.get("DATABASE_URL"):
            try:
                update["database_url"] = _database_url(url)
            except ValueError as err:
                raise ConfigError(
                    t("config.env_invalid", name="DATABASE_URL", problem=err)
                ) from None
        key_file = self.certificates.signing_key_file
        if state_text := env.get("CERTFLOW_STATE"):
            # A folder typed in a shell: relative to where the command runs.
            # Every path of the state moves, absolute ones too: a local or
            # training stack must never write into (or sign with) what the
            # configuration names for production. A key kept elsewhere, such
            # as a secret mounted in a container, is CERTFLOW_SIGNING_KEY_FILE.
            state = Path(state_text).resolve()
            update["documents_dir"] = state / "documents"
            update["output_dir"] = state / "out"
            update["mailbox"] = self.mailbox.model_copy(
                update={"path": state / "mailbox" / "exam"}
            )
            key_file = state_key_file(state)
        if key_text := env.get(KEY_FILE_ENV):
            key_file = Path(key_text).resolve()
        update["certificates"] = self.certificates.model_copy(
            update={"signing_key_file": key_file}
        )
        temporal = self.temporal
        if address := env.get("TEMPORAL_ADDRESS"):
            try:
                address = _host_and_port(address)
            except ValueError as err:
                raise ConfigError(
                    t("config.env_invalid", name="TEMPORAL_ADDRESS", problem=err)
                ) from None
            temporal = temporal.model_copy(update={"address": address})
        smtp = self.smtp
        if host := env.get("SMTP_HOST"):
            smtp = smtp.model_copy(update={"host": host})
        if port := env.get("SMTP_PORT"):
            if not port.isdigit() or not 1 <= int(port) <= 65_535:
                raise ConfigError(t("config.env_not_port", name="SMTP_PORT"))
            smtp = smtp.model_copy(update={"port": int(port)})
        return self.model_copy(update={**update, "temporal": temporal, "smtp": smtp})

    def pass_rule_for(
        self, certificate: str, level: Level, module_code: str
    ) -> PassRule:
        """Return the configured rule, the most specific entry winning."""
        best: PassRuleEntry | None = None
        for entry in self.pass_rules:
            if entry.certificate != certificate or entry.level != level:
                continue
            if entry.module_code == module_code:
                return entry.rule
            if entry.module_code == "*":
                best = entry
        return best.rule if best else PassRule()

    def from_site(self, address: str, site_code: str | None) -> bool:
        """Whether ``address`` is one of those registered for the site."""
        known = self.site_recipients.get(site_code or "", [])
        return address.lower() in {parseaddr(a)[1].lower() for a in known}

    def fee_for(self, certificate: str, level: Level) -> float | None:
        for entry in self.fees:
            if entry.certificate == certificate and entry.level == level:
                return entry.fee_per_candidate
        return None
