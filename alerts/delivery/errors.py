"""What went wrong with one send, sorted into "try again later" and "never going to work".

Senders raise ``TemporaryError`` (the receiver is down, busy, slow: retry with backoff, honouring
its Retry-After) or ``PermanentError`` (the receiver refused this message: a dead letter an
administrator can look at and retry). The classification of HTTP and SMTP answers is pure.
"""

from __future__ import annotations

from ioc.retry_after import retry_after_seconds as parse_retry_after

__all__ = [
    "DeliveryError",
    "PermanentError",
    "TemporaryError",
    "classify_http_status",
    "classify_smtp_code",
    "parse_retry_after",
]

# HTTP client errors that still mean "try again": request timeout, too many requests.
_TEMPORARY_4XX = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """A send that did not succeed; ``str(exc)`` is what the outbox keeps as last_error."""


class TemporaryError(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the receiver asked us to wait, if it said


class PermanentError(DeliveryError):
    pass


def classify_http_status(status: int, body: str = "", retry_after: float | None = None) -> DeliveryError | None:
    """None for a success (2xx); otherwise the error to raise for this HTTP answer."""
    if 200 <= status < 300:
        return None
    message = f"HTTP {status}: {body[:300]}".rstrip(": ")
    if status >= 500 or status in _TEMPORARY_4XX:
        return TemporaryError(message, retry_after)
    # 3xx (a webhook must not redirect us elsewhere) and every other 4xx: the request itself is wrong.
    return PermanentError(message)


def classify_smtp_code(code: int, message: str = "") -> DeliveryError:
    """SMTP replies: 4xx is transient by definition (RFC 5321 §4.2.1), 5xx permanent."""
    text = f"SMTP {code}: {message[:300]}".rstrip(": ")
    if 400 <= code < 500:
        return TemporaryError(text)
    return PermanentError(text)
