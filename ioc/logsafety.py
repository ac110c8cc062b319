"""Keep secrets out of logs: IOC credentials, JWTs, passwords and auth headers become "[redacted]".

A logging filter rather than care at every call site, because secrets reach logs by accident: an
access-log line with a token in its query string, an exception that quotes a connection string,
a debug dump of request headers. Redaction is idempotent ("[redacted]" matches no pattern).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from ioc.auth.credentials import CREDENTIAL_PATTERN

REDACTED = "[redacted]"
_HEADER_NAMES = r"(?:proxy-)?authorization|set-cookie|cookie|x-api-key"
_PASSWORD_NAMES = r"\w*pass(?:word|wd)"

# (pattern, replacement); applied in order, the context-bound ones first so that they keep
# their key names ("password=[redacted]") before the shape-based ones rewrite what is left.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Quoted header values, as in a dict or an ASGI header list: 'authorization': 'Bearer …',
    # (b'cookie', b'…'), "Set-Cookie": "…".
    (
        re.compile(rf"""(?i)(\b(?:{_HEADER_NAMES})["']?\s*[:=,]\s*b?)(["'])(?:\\.|(?!\2).)*\2"""),
        rf"\1\2{REDACTED}\2",
    ),
    # Header lines: "Authorization: Bearer …" to the end of the line.
    (re.compile(rf"""(?i)(\b(?:{_HEADER_NAMES})\s*[:=]\s*)(?![\s"']|\[redacted\])[^\r\n]+"""), rf"\1{REDACTED}"),
    # Quoted passwords: "password": "…", 'new_password': '…'.
    (re.compile(rf"""(?i)(["']{_PASSWORD_NAMES}["']\s*:\s*)(["'])(?:\\.|(?!\2).)*\2"""), rf"\1\2{REDACTED}\2"),
    # password=… in query strings, form bodies, libpq connection strings and reprs.
    (re.compile(rf"""(?i)(\b{_PASSWORD_NAMES}\s*=\s*)(?!\[redacted\])[^\s&;,)]+"""), rf"\1{REDACTED}"),
    # The password part of a URL: postgresql://ioc:secret@db/ioc.
    (re.compile(r"""(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)"""), rf"\1{REDACTED}\2"),
    # A bearer credential wherever it appears; 16+ characters, so that prose ("Bearer token") stays.
    (re.compile(r"""(?i)(\bbearer\s+)[A-Za-z0-9._~+/-]{16,}=*"""), rf"\1{REDACTED}"),
    # IOC credentials and JWTs by their shape.
    (re.compile(CREDENTIAL_PATTERN), REDACTED),
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
)


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _redact_arg(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Rewrites each record so that no handler after it can print a secret.

    Arguments are redacted one by one first, keeping their number and types: uvicorn's access
    formatter reads the five arguments of an access record rather than its message. Then the
    formatted message is checked as a whole, for secrets that only show once the template and
    its arguments meet ("password=%s", or a template with no arguments at all); such a record is
    rewritten to its redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact_arg(value) for key, value in record.args.items()}
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's to report, not ours
            return True
        redacted = redact(message)
        # uvicorn's access formatter prints its (already redacted) arguments and ignores the
        # message; taking its arguments away would break it.
        if redacted != message and record.name != "uvicorn.access":
            record.msg, record.args = redacted, None
            # uvicorn's coloured formatter would re-format this template with the old arguments.
            record.__dict__.pop("color_message", None)
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when set: fill it now, redacted (an exception may quote a DSN).
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactSecrets()
UVICORN_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")


def install_redaction() -> None:
    """Attach the filter to the root logger's handlers and to uvicorn's loggers (idempotent).

    Call it after logging is configured (uvicorn configures its loggers when its Config is
    built): handlers added later are not covered by the handler filters.
    """
    targets: list[logging.Filterer] = list(logging.getLogger().handlers)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        targets.append(logger)
        targets.extend(logger.handlers)
    for target in targets:
        if not any(isinstance(existing, RedactSecrets) for existing in target.filters):
            target.addFilter(_FILTER)
