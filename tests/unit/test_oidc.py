"""OIDC bearer tokens: real keys, a real JWKS (file and local HTTP server), real signatures.

Every refusal must say why, and never echo the token back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning

from ioc.auth.oidc import OidcConfig, OidcError, OidcVerifier, looks_like_jwt
from ioc.auth.policy import Role
from ioc.auth.scope import Scope

ISSUER = "https://idp.example.gov.vn/realms/ioc"
AUDIENCE = "ioc-console"


@dataclass(frozen=True)
class Keys:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    stranger_key: rsa.RSAPrivateKey  # signs, but is not in the issuer's key set

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = RSAAlgorithm.to_jwk(self.rsa_key.public_key(), as_dict=True)
        ec_jwk = ECAlgorithm.to_jwk(self.ec_key.public_key(), as_dict=True)
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
            ]
        }


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
        stranger_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture
def jwks_file(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()), encoding="utf-8")
    return path


def config_for(keys_file: Path, **changes: Any) -> OidcConfig:
    return replace(OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=None, jwks_file=keys_file), **changes)


class FromNow(int):
    """A time claim given relative to the moment the token is made, not to when this module was
    imported: collection and the test may be many minutes apart in a long suite."""


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    changes = {k: now + v if isinstance(v, FromNow) else v for k, v in changes.items()}
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "f3a1c2d4-0001",
        "iat": now,
        "exp": now + 300,
        "name": "Nguyễn Thị Lan",
        "ioc_role": "operator",
        "ioc_scope": {"communes": ["00097"]},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}  # None = leave the claim out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(payload: dict[str, Any], keys: Keys, *, key: str = "rsa", kid: str = "rsa-1") -> str:
    if key == "rsa":
        return jwt.encode(payload, keys.rsa_key, algorithm="RS256", headers={"kid": kid})
    if key == "ec":
        return jwt.encode(payload, keys.ec_key, algorithm="ES256", headers={"kid": kid})
    if key == "stranger":
        return jwt.encode(payload, keys.stranger_key, algorithm="RS256", headers={"kid": kid})
    if key == "none":
        head = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        return f"{head}.{b64url(json.dumps(payload).encode())}."
    if key == "hs256-public-key":
        # Algorithm confusion: the RSA public key (public knowledge) used as an HMAC secret.
        secret = keys.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        body = b64url(json.dumps(payload).encode())
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64url(mac)}"
    raise AssertionError(key)


REFUSED: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    # (case, claim changes, signing, expected reason fragment)
    ("wrong issuer", {"iss": "https://evil.example/realms/ioc"}, {}, "issuer is not the configured issuer"),
    ("wrong audience", {"aud": "another-app"}, {}, "audience does not include this application"),
    ("expired beyond the leeway", {"exp": FromNow(-120)}, {}, "token has expired"),
    ("not yet valid", {"nbf": FromNow(600)}, {}, "not valid yet"),
    ("issued in the future", {"iat": FromNow(600)}, {}, "issued in the future"),
    ("no exp", {"exp": None}, {}, "lacks the exp claim"),
    ("unknown kid", {}, {"kid": "rsa-9"}, "matches the token's kid"),
    ("signed by a key not in the JWKS", {}, {"key": "stranger"}, "signature does not verify"),
    ("EC signature under the RSA kid", {}, {"key": "ec", "kid": "rsa-1"}, "does not match the key"),
    ("alg none", {}, {"key": "none"}, "algorithm 'none' is not accepted"),
    ("HS256 with the public key as secret", {}, {"key": "hs256-public-key"}, "algorithm 'HS256' is not accepted"),
    ("missing sub", {"sub": None}, {}, "lacks the sub claim"),
    ("empty sub", {"sub": ""}, {}, "sub claim must be a non-empty string"),
    ("role source", {"ioc_role": "source"}, {}, "'source' is not a person's role"),
    ("role display", {"ioc_role": "display"}, {}, "'display' is not a person's role"),
    ("unknown role", {"ioc_role": "superuser"}, {}, "'superuser' is not a person's role"),
    ("role as a list", {"ioc_role": ["admin"]}, {}, "is not a person's role"),
    ("missing role", {"ioc_role": None}, {}, "lacks the ioc_role claim"),
    ("missing scope", {"ioc_scope": None}, {}, "lacks the ioc_scope claim; no scope is assumed"),
    ("scope with an unknown key", {"ioc_scope": {"communes": ["00097"], "all": True}}, {}, "unknown scope keys: all"),
    ("empty scope", {"ioc_scope": {}}, {}, "not a valid scope"),
    ("scope not an object", {"ioc_scope": ["00097"]}, {}, "must be a JSON object"),
    ("scope text not JSON", {"ioc_scope": "national"}, {}, "is not valid JSON"),
    ("admin with a province scope", {"ioc_role": "admin", "ioc_scope": {"provinces": ["01"]}}, {}, "admin's scope"),
    (
        "admin national but narrowed to sectors",
        {"ioc_role": "admin", "ioc_scope": {"national": True, "sectors": ["Hộ tịch"]}},
        {},
        "admin's scope",
    ),
]


@pytest.mark.parametrize(("changes", "signing", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_tokens_say_why_and_never_echo_the_token(
    jwks_file: Path, keys: Keys, changes: dict[str, Any], signing: dict[str, str], reason: str
) -> None:
    token = sign(claims(**changes), keys, **signing)
    with pytest.raises(OidcError) as caught:
        OidcVerifier(config_for(jwks_file)).verify(token)
    assert reason in str(caught.value)
    assert token not in str(caught.value) and token.split(".")[1] not in str(caught.value)


def test_a_valid_admin_token_gives_an_unrestricted_admin(jwks_file: Path, keys: Keys) -> None:
    token = sign(claims(ioc_role="admin", ioc_scope={"national": True}, name=None, preferred_username="lan.nt"), keys)
    principal = OidcVerifier(config_for(jwks_file)).verify(token)
    assert principal.role is Role.ADMIN and principal.scope.unrestricted
    assert principal.subject == "oidc:f3a1c2d4-0001" and principal.name == "lan.nt"
    assert principal.credential == "oidc"
    assert principal.credential_id and token not in principal.credential_id


def test_a_valid_commune_operator_token_signed_with_ec_keeps_its_scope(jwks_file: Path, keys: Keys) -> None:
    scope = {"communes": ["00097"], "sectors": ["Hộ tịch"]}
    token = sign(claims(ioc_scope=scope), keys, key="ec", kid="ec-1")
    principal = OidcVerifier(config_for(jwks_file)).verify(token)
    assert principal.role is Role.OPERATOR and principal.name == "Nguyễn Thị Lan"
    assert principal.scope == Scope(communes=frozenset({"00097"}), sectors=frozenset({"Hộ tịch"}))
    assert principal.scope.allows("01", "00097", sector="Hộ tịch") and not principal.scope.allows("01", "00100")


def test_expiry_within_the_leeway_is_accepted(jwks_file: Path, keys: Keys) -> None:
    token = sign(claims(exp=int(time.time()) - 10), keys)
    assert OidcVerifier(config_for(jwks_file, leeway_seconds=30)).verify(token).role is Role.OPERATOR
    with pytest.raises(OidcError, match="expired"):
        OidcVerifier(config_for(jwks_file, leeway_seconds=0)).verify(token)


def test_an_audience_list_including_ours_is_accepted(jwks_file: Path, keys: Keys) -> None:
    token = sign(claims(aud=["account", AUDIENCE]), keys)
    assert OidcVerifier(config_for(jwks_file)).verify(token).subject == "oidc:f3a1c2d4-0001"


def test_a_scope_sent_as_json_text_is_read(jwks_file: Path, keys: Keys) -> None:
    token = sign(claims(ioc_scope=json.dumps({"provinces": ["01"]})), keys)
    assert OidcVerifier(config_for(jwks_file)).verify(token).scope.provinces == {"01"}


ROLE_MAP = {"ioc-admins": "admin", "ioc-leaders": "leader", "ioc-operators": "operator"}


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["staff", "ioc-operators"], Role.OPERATOR),
        (["ioc-operators", "ioc-leaders"], Role.LEADER),  # role_map order is the priority, not the token's
        ("ioc-leaders", Role.LEADER),  # some IdPs send a single group as a string
    ],
)
def test_role_map_takes_the_first_mapped_group(
    jwks_file: Path, keys: Keys, groups: list[str] | str, expected: Role
) -> None:
    # With a role map the role claim is ignored: only the groups count.
    token = sign(claims(groups=groups, ioc_role="admin", ioc_scope={"provinces": ["01"]}), keys)
    principal = OidcVerifier(config_for(jwks_file, role_map=ROLE_MAP)).verify(token)
    assert principal.role is expected


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        (["staff"], "none of the token's groups maps to an IOC role"),
        (None, "groups claim must be a list of strings"),
        ([1, 2], "groups claim must be a list of strings"),
    ],
)
def test_role_map_refuses_tokens_without_a_mapped_group(
    jwks_file: Path, keys: Keys, groups: list[Any] | None, reason: str
) -> None:
    token = sign(claims(groups=groups), keys)
    with pytest.raises(OidcError, match=reason):
        OidcVerifier(config_for(jwks_file, role_map=ROLE_MAP)).verify(token)


def test_a_short_rsa_key_is_refused(jwks_file: Path, keys: Keys) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = keys.jwks()
    jwks["keys"].append({**RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True), "kid": "weak", "alg": "RS256"})
    jwks_file.write_text(json.dumps(jwks), encoding="utf-8")
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT only warns when signing with it
        token = jwt.encode(claims(), weak, algorithm="RS256", headers={"kid": "weak"})
    with pytest.raises(OidcError, match="shorter than the minimum"):
        OidcVerifier(config_for(jwks_file)).verify(token)


def test_a_rotated_key_is_picked_up_from_the_file(jwks_file: Path, keys: Keys) -> None:
    verifier = OidcVerifier(config_for(jwks_file))
    token = sign(claims(), keys, key="stranger", kid="rsa-2")
    with pytest.raises(OidcError, match="kid"):
        verifier.verify(token)
    jwks = keys.jwks()
    jwks["keys"].append({**RSAAlgorithm.to_jwk(keys.stranger_key.public_key(), as_dict=True), "kid": "rsa-2"})
    jwks_file.write_text(json.dumps(jwks), encoding="utf-8")
    assert verifier.verify(token).role is Role.OPERATOR


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"jwks_file": None}, "exactly one of jwks_url and jwks_file"),
        ({"jwks_url": "https://idp.example/jwks"}, "exactly one of jwks_url and jwks_file"),
        ({"jwks_file": None, "jwks_url": "http://idp.example/jwks"}, "must be https"),
        ({"algorithms": ("RS256", "HS256")}, "refused: HS256"),
        ({"algorithms": ("none",)}, "refused: none"),
        ({"algorithms": ()}, "at least one"),
        ({"role_map": {"screens": "display"}}, "not a person's role"),
        ({"issuer": ""}, "issuer and an audience"),
        ({"leeway_seconds": -1}, "negative"),
    ],
)
def test_bad_configuration_stops_start_up(jwks_file: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_for(jwks_file, **changes)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", True),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", True),  # unsigned: still a JWT, refused later
        ("ioca_" + "A" * 43, False),
        ("a.b", False),
        ("a.b.c.d", False),
        ("a b.c.d", False),
        ("eyJ.eyJ.c2ln=", False),  # padding is not base64url as JWTs use it
        ("", False),
    ],
)
def test_looks_like_jwt(token: str, expected: bool) -> None:
    assert looks_like_jwt(token) is expected


def test_a_token_that_is_not_a_jwt_is_refused(jwks_file: Path) -> None:
    with pytest.raises(OidcError, match="not a JWT"):
        OidcVerifier(config_for(jwks_file)).verify("ioca_" + "A" * 43)


# -- JWKS over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[tuple[str, list[str]]]:
    body = json.dumps(keys.jwks()).encode()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path != "/realms/ioc/protocol/openid-connect/certs":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/realms/ioc/protocol/openid-connect/certs", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_keys_are_fetched_from_the_jwks_url_and_cached(jwks_server: tuple[str, list[str]], keys: Keys) -> None:
    url, requests = jwks_server
    verifier = OidcVerifier(OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, jwks_file=None))
    assert verifier.verify(sign(claims(), keys)).role is Role.OPERATOR
    assert verifier.verify(sign(claims(), keys, key="ec", kid="ec-1")).role is Role.OPERATOR
    assert len(requests) == 1  # the second token used the cached key set
    with pytest.raises(OidcError, match="kid"):
        verifier.verify(sign(claims(), keys, key="stranger", kid="rsa-9"))
    with pytest.raises(OidcError, match="signature does not verify"):
        verifier.verify(sign(claims(), keys, key="stranger"))


def test_an_unreachable_jwks_url_is_a_clear_refusal(jwks_server: tuple[str, list[str]], keys: Keys) -> None:
    url, _ = jwks_server
    verifier = OidcVerifier(
        OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=url.replace("/certs", "/missing"), jwks_file=None)
    )
    with pytest.raises(OidcError, match="could not be fetched"):
        verifier.verify(sign(claims(), keys))
