"""The VAPID key pair Web Push signs with: a PEM private key on disk, created on first use.

Browsers subscribe with the public key as ``applicationServerKey``: the uncompressed P-256 point,
base64url without padding — what ``vapid_public_key`` returns for the phone page to fetch.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["b64url", "load_or_create_private_key", "vapid_public_key"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_or_create_private_key(path: Path | str) -> ec.EllipticCurvePrivateKey:
    """Read the P-256 key at ``path``; create it (mode 0600) if there is none yet.

    Two processes starting together end up with the same key: the loser of the race reads the
    winner's file.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written aside, then linked into place: link fails if the name exists, so exactly one
        # process's key wins and nobody ever reads a half-written file.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        else:
            return key
        finally:
            temporary.unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ValueError(f"{path}: a VAPID key must be an EC P-256 private key")
    return loaded


def vapid_public_key(path: Path | str) -> str:
    """The application server key browsers need, base64url (65-byte uncompressed point)."""
    public = load_or_create_private_key(path).public_key()
    return b64url(public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
