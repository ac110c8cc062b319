"""Bearer JWTs from the configured OpenID Connect issuer, turned into a `Principal`.

Only people sign in through the identity provider, so only people's roles are accepted; wall
displays and data sources keep their own IOC credentials. A token must carry an explicit scope:
an identity provider that forgets the scope claim must not hand out the whole country.

`OidcVerifier.verify` is synchronous and, with a `jwks_url`, may fetch the key set over the
network (cached for a few minutes); async callers run it in a worker thread.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt

from ioc.auth.credentials import digest
from ioc.auth.policy import Role
from ioc.auth.principal import Principal
from ioc.auth.scope import Scope, ScopeError

# Roles a person may hold; "display" and "source" come only from IOC's own credentials.
PEOPLE_ROLES = frozenset({Role.ADMIN, Role.LEADER, Role.OPERATOR, Role.SUBSCRIBER})
# Signature algorithms with a public key. Symmetric ones (HS*) are never accepted: with them a
# public key published in the JWKS could be used as the shared secret (algorithm confusion).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN_CHARS = 16_384  # far above any real ID/access token; stops pathological input early
JWKS_CACHE_SECONDS = 300
JWKS_FETCH_TIMEOUT_SECONDS = 5.0

# header.payload.signature, each base64url without padding; the signature of an unsigned
# ("alg": "none") token is empty, and such a token is still a JWT (refused later, with reason).
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class OidcError(ValueError):
    """A token that is not accepted. The reason is safe to log: it never holds the token."""


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer string has the shape of a JWT (IOC's own credentials never do)."""
    return len(token) <= MAX_TOKEN_CHARS and _JWT_SHAPE.fullmatch(token) is not None


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str | None
    jwks_file: Path | None
    role_claim: str = "ioc_role"
    scope_claim: str = "ioc_scope"
    # IdP value (a group name) → IOC role; the first entry found in the token's groups wins.
    # Empty: `role_claim` holds an IOC role name.
    role_map: dict[str, str] = field(default_factory=dict)
    groups_claim: str = "groups"
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_seconds: int = 30

    def __post_init__(self) -> None:
        # Configuration errors stop start-up, so each says what to fix.
        if not self.issuer or not self.audience:
            raise ValueError("OIDC needs an issuer and an audience")
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("OIDC needs exactly one of jwks_url and jwks_file")
        if self.jwks_url is not None:
            url = urlsplit(self.jwks_url)
            if url.scheme != "https" and not (url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS):
                raise ValueError("jwks_url must be https (plain http only on the loopback interface)")
        if not self.algorithms:
            raise ValueError("OIDC needs at least one signature algorithm")
        refused = [alg for alg in self.algorithms if alg not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(f"OIDC algorithms must be public-key ones; refused: {', '.join(refused)}")
        for idp_value, role in self.role_map.items():
            if role not in PEOPLE_ROLES:
                raise ValueError(f"role_map maps {idp_value!r} to {role!r}, which is not a person's role")
        if self.leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")


class _KeySource(Protocol):
    def key_for(self, kid: str) -> jwt.PyJWK: ...


class _FileKeys:
    """A JWKS file, re-read when it changes so that a key rotation needs no restart."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._mtime_ns = -1
        self._keys: dict[str, jwt.PyJWK] = {}
        self._load()  # a missing or broken file is a configuration error: fail at start-up

    def _load(self) -> None:
        stat = self._path.stat()
        data = json.loads(self._path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{self._path} is not a JWK set")
        try:
            key_set = jwt.PyJWKSet.from_dict(data)
        except jwt.PyJWTError as exc:
            raise ValueError(f"{self._path} holds no usable key: {exc}") from exc
        self._keys = {key.key_id: key for key in key_set.keys if key.key_id and key.public_key_use in ("sig", None)}
        self._mtime_ns = stat.st_mtime_ns

    def key_for(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            if kid not in self._keys:
                try:
                    if self._path.stat().st_mtime_ns != self._mtime_ns:
                        self._load()
                except (OSError, ValueError) as exc:
                    # Keep serving the keys we have; a half-written file must not lock everyone out.
                    raise OidcError("the issuer's key set file could not be read") from exc
            key = self._keys.get(kid)
        if key is None:
            raise OidcError("no key in the issuer's key set matches the token's kid")
        return key


class _UrlKeys:
    """The issuer's JWKS endpoint, through PyJWT's client (cached; refetched once for a new kid)."""

    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(
            url, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_FETCH_TIMEOUT_SECONDS
        )

    def key_for(self, kid: str) -> jwt.PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise OidcError("the issuer's key set could not be fetched") from exc
        except jwt.PyJWKClientError as exc:
            raise OidcError("no key in the issuer's key set matches the token's kid") from exc
        except jwt.PyJWTError as exc:
            raise OidcError("the issuer's key set is not usable") from exc


# PyJWT's exceptions → reasons; the most specific class first.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token has expired"),
    (jwt.InvalidIssuedAtError, "token iat claim is not a number"),
    (jwt.InvalidIssuerError, "token issuer is not the configured issuer"),
    (jwt.InvalidAudienceError, "token audience does not include this application"),
    (jwt.InvalidAlgorithmError, "token algorithm does not match the key"),
    (jwt.InvalidSignatureError, "token signature does not verify"),
    (jwt.DecodeError, "token is malformed"),
    (jwt.InvalidKeyError, "the issuer's key is shorter than the minimum accepted length"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the {exc.claim} claim"
    if isinstance(exc, jwt.ImmatureSignatureError):
        # PyJWT raises the same class for both claims and names the claim only in its message.
        return "token is issued in the future (iat)" if "(iat)" in str(exc) else "token is not valid yet (nbf)"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "token is invalid"


def _short(text: str, limit: int = 40) -> str:
    """Token-supplied text in a reason is bounded, so a hostile token cannot flood the logs."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OidcVerifier:
    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._keys: _KeySource
        if config.jwks_file is not None:
            self._keys = _FileKeys(config.jwks_file)
        else:
            assert config.jwks_url is not None  # OidcConfig guarantees one of the two
            self._keys = _UrlKeys(config.jwks_url)

    def verify(self, token: str) -> Principal:
        claims = self._verified_claims(token)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise OidcError("token sub claim must be a non-empty string of at most 255 characters")
        role = self._role(claims)
        scope = self._scope(claims)
        if role is Role.ADMIN and not scope.unrestricted:
            raise OidcError("an admin's scope must be national with every agency and sector")
        return Principal(
            subject=f"oidc:{sub}",
            name=self._name(claims, sub),
            role=role,
            scope=scope,
            credential="oidc",
            # A hash, never the token: lets audit and revocation name exactly this token.
            credential_id=digest(token),
        )

    # -- signature and registered claims ----------------------------------------------------

    def _verified_claims(self, token: str) -> dict[str, Any]:
        if not looks_like_jwt(token):
            raise OidcError("token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcError("token header is malformed") from exc
        alg = header.get("alg")
        # Checked before any key is looked up: "none" and HS* never reach signature code.
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            raise OidcError(f"token algorithm {_short(repr(alg))} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise OidcError("token header has no kid")
        key = self._keys.key_for(kid)
        try:
            # Passing the PyJWK makes PyJWT also insist that `alg` is the key's own algorithm.
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                # A short RSA key is refused rather than warned about: it may be forgeable.
                options={"require": ["exp", "iss", "aud", "sub"], "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            raise OidcError(_reason(exc)) from exc
        return claims

    # -- IOC claims -------------------------------------------------------------------------

    def _role(self, claims: Mapping[str, Any]) -> Role:
        if self.config.role_map:
            return self._mapped_role(claims)
        value = claims.get(self.config.role_claim)
        if value is None:
            raise OidcError(f"token lacks the {self.config.role_claim} claim")
        if not isinstance(value, str) or value not in PEOPLE_ROLES:
            raise OidcError(f"role {_short(repr(value))} is not a person's role (admin, leader, operator, subscriber)")
        return Role(value)

    def _mapped_role(self, claims: Mapping[str, Any]) -> Role:
        groups = claims.get(self.config.groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
            raise OidcError(f"token {self.config.groups_claim} claim must be a list of strings")
        held = set(groups)
        for idp_value, role in self.config.role_map.items():  # insertion order = priority
            if idp_value in held:
                return Role(role)
        raise OidcError(f"none of the token's {self.config.groups_claim} maps to an IOC role")

    def _scope(self, claims: Mapping[str, Any]) -> Scope:
        name = self.config.scope_claim
        value = claims.get(name)
        if value is None:
            raise OidcError(f"token lacks the {name} claim; no scope is assumed")
        if isinstance(value, str):
            # Some identity providers can only emit string attributes: accept JSON text too.
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise OidcError(f"token {name} claim is not valid JSON") from exc
        if not isinstance(value, dict):
            raise OidcError(f"token {name} claim must be a JSON object")
        try:
            return Scope.from_dict(value)
        except ScopeError as exc:
            raise OidcError(f"token {name} claim is not a valid scope: {_short(str(exc), 160)}") from exc

    @staticmethod
    def _name(claims: Mapping[str, Any], sub: str) -> str:
        for claim in ("name", "preferred_username"):
            value = claims.get(claim)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
        return sub
