"""E-mail over SMTP: multipart text + HTML, UTF-8 Vietnamese subject, Message-ID from the key.

The standard library's smtplib runs in a worker thread (no extra dependency); each send opens
its own connection, so a hung server holds one thread of one channel, never the event loop.
SMTP replies are classified by RFC 5321: 4xx try again, 5xx give up.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, parseaddr

from alerts.delivery.errors import DeliveryError, PermanentError, TemporaryError, classify_smtp_code
from alerts.delivery.outbox import DeliveryRow
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.templates import render

__all__ = ["EmailSender", "build_email", "message_id", "recipients"]


def recipients(address: str) -> list[str]:
    """A contact point may list several addresses, separated by commas or semicolons."""
    pairs = getaddresses([address.replace(";", ",")])
    return [addr for _, addr in pairs if "@" in addr]


def message_id(idempotency_key: str, sender: str) -> str:
    """The same key always gives the same Message-ID, so a mail system can drop a resent copy."""
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    domain = domain if at and domain else "ioc.localhost"
    return f"<{idempotency_key}@{domain}>"


def build_email(row: DeliveryRow, settings: DeliverySettings) -> EmailMessage:
    message = render(row.notification, language=row.language, public_url=settings.public_url)
    mail = EmailMessage()
    mail["Subject"] = message.subject  # EmailMessage encodes non-ASCII as RFC 2047 UTF-8
    mail["From"] = settings.smtp_from
    mail["To"] = ", ".join(recipients(row.address))
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message_id(row.idempotency_key, settings.smtp_from)
    mail["X-IOC-Idempotency-Key"] = row.idempotency_key
    mail["Content-Language"] = message.language
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    mail.set_content(message.text, charset="utf-8")
    mail.add_alternative(message.html, subtype="html", charset="utf-8")
    return mail


class EmailSender:
    def __init__(self, settings: DeliverySettings) -> None:
        self._settings = settings

    async def send(self, row: DeliveryRow) -> None:
        if not self._settings.smtp_host:
            raise PermanentError("e-mail is not configured (no SMTP host)")
        to = recipients(row.address)
        if not to:
            raise PermanentError(f"no valid e-mail address in {row.address[:200]!r}")
        await asyncio.to_thread(self._send_blocking, build_email(row, self._settings), to)

    def _send_blocking(self, mail: EmailMessage, to: list[str]) -> None:
        s = self._settings
        try:
            smtp: smtplib.SMTP
            if s.smtp_ssl:
                smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s,
                                        context=ssl.create_default_context())  # fmt: skip
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
            with smtp:
                if s.smtp_starttls and not s.smtp_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password)
                # If only some recipients are refused, the others have the message: a retry would send
                # them a second copy, so a partial acceptance counts as sent.
                smtp.send_message(mail, from_addr=parseaddr(s.smtp_from)[1] or None, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            raise classify_smtp_code(exc.smtp_code, _text(exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS failure
            raise TemporaryError(f"SMTP {type(exc).__name__}: {exc}"[:300]) from exc


def _refused(recipients: dict[str, tuple[int, bytes]]) -> DeliveryError:
    """Every recipient refused: temporary if any refusal was (a retry may reach that one)."""
    errors = [classify_smtp_code(code, f"{addr}: {_text(msg)}") for addr, (code, msg) in recipients.items()]
    temporary = [e for e in errors if isinstance(e, TemporaryError)]
    return temporary[0] if temporary else errors[0] if errors else PermanentError("all recipients refused")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
