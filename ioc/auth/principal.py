"""Who is calling: a person, a wall display, or a data source, with their role and scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ioc.auth.policy import Role
from ioc.auth.scope import Scope

# How the caller proved who it is; "oidc" covers JWTs from the configured identity provider.
Credential = Literal["session", "access_token", "oidc", "display_token", "source_key", "cli"]


@dataclass(frozen=True)
class Principal:
    subject: str  # "user:<username>", "display:<id>", "source:<id>", "oidc:<sub>", "cli:<name>"
    name: str  # for people: the display name; for screens: the screen name
    role: Role
    scope: Scope
    credential: Credential
    # The row behind the credential (a session or token hash, a display id, a source key id),
    # so that logout and revocation can end exactly this credential.
    credential_id: str = ""
    user_id: int | None = None
    source_id: str | None = None
    streams: frozenset[str] = frozenset()

    @property
    def uses_cookie(self) -> bool:
        return self.credential in ("session", "display_token") and self.credential_id.startswith("cookie:")
