"""Credentials as random strings: generated here, shown once, stored only as SHA-256.

The prefix says what a credential is, so a lookup goes to one table and a leaked string in a log
or a ticket is recognisable (and redacted by ioc/logsafety.py).
"""

from __future__ import annotations

import hashlib
import secrets as _random
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

Kind = Literal["session", "access", "refresh", "display", "source"]
PREFIX: dict[Kind, str] = {
    "session": "iocs_",
    "access": "ioca_",
    "refresh": "iocr_",
    "display": "iocd_",
    "source": "ioc_",  # the original source-key format, kept so existing keys stay valid
}
# Any IOC credential, for log redaction: a known prefix followed by the random part.
# (40+: the random part is 43 characters, while metric names like ioc_alerts_evaluations_total are shorter.)
CREDENTIAL_PATTERN = r"ioc[sard]?_[A-Za-z0-9_-]{40,}"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def new_credential(kind: Kind) -> str:
    return PREFIX[kind] + _random.token_urlsafe(32)


def kind_of(credential: str) -> Kind | None:
    # Longest prefix first: "ioc_" is a prefix of none of the others, but be explicit anyway.
    for kind in ("session", "access", "refresh", "display", "source"):
        if credential.startswith(PREFIX[kind]):
            return kind
    return None


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Same work as a real check, so a missing account does not answer faster than a wrong password.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_password_check(password: str) -> None:
    verify_password(None, password)
