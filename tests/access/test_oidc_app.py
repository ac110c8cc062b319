"""OIDC end to end: the real app configured with an issuer accepts its JWTs as bearer tokens.

The key pair is generated here and published as a JWKS file; tokens are signed with it. The
principal's role and scope come from the claims, and the scope applies to lists like any other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ioc.db.embedded import free_port
from ioc.settings import Settings
from tests.auth_support import bearer
from tests.conftest import fresh_database, serve_in_thread

ISSUER = "https://sso.hanoi.gov.vn/realms/ioc"
AUDIENCE = "ioc"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def oidc_server(
    pg_server: Any, signing_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    jwks = tmp_path_factory.mktemp("oidc") / "jwks.json"
    public = RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    jwks.write_text(json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}), encoding="utf-8")
    url = fresh_database(pg_server)
    settings = Settings(database_url=url, port=free_port(), oidc_issuer=ISSUER, oidc_audience=AUDIENCE,
                        oidc_jwks_file=Path(jwks), oidc_role_map='{"ioc-leaders-hn": "leader"}')  # fmt: skip
    server, thread = serve_in_thread(settings, url)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "iat": now, "exp": now + 300,
               "name": "Trần Văn Hùng", **claims}  # fmt: skip
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_mapped_group_signs_in_as_a_province_leader(oidc_server: str, signing_key: rsa.RSAPrivateKey) -> None:
    jwt_token = token(signing_key, groups=["staff", "ioc-leaders-hn"], ioc_scope={"provinces": ["01"]})
    with httpx.Client(base_url=oidc_server, headers=bearer(jwt_token)) as client:
        me = client.get("/api/v1/auth/me").json()
        provinces = client.get("/api/v1/status/provinces").json()["provinces"]
        users = client.get("/api/v1/admin/users")
    assert (me["role"], me["subject"], me["name"], me["credential"]) == (
        "leader",
        "oidc:u-123",
        "Trần Văn Hùng",
        "oidc",
    )
    assert [p["code"] for p in provinces] == ["01"]  # the claim's scope applies
    assert users.status_code == 403  # a leader is not an admin


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("wrong issuer", {"iss": "https://evil.example"}),
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
        ("no mapped group", {"groups": ["staff"], "ioc_scope": {"provinces": ["01"]}}),
        ("no scope", {"groups": ["ioc-leaders-hn"]}),
    ],
)
def test_refused_tokens_get_401(oidc_server: str, signing_key: rsa.RSAPrivateKey, case: str,
                                claims: dict[str, Any]) -> None:  # fmt: skip
    with httpx.Client(base_url=oidc_server, headers=bearer(token(signing_key, **claims))) as client:
        response = client.get("/api/v1/auth/me")
    assert response.status_code == 401, case
    assert "eyJ" not in response.text  # the token is never echoed


def test_a_token_signed_by_another_key_gets_401(oidc_server: str) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwt_token = token(stranger, groups=["ioc-leaders-hn"], ioc_scope={"provinces": ["01"]})
    with httpx.Client(base_url=oidc_server, headers=bearer(jwt_token)) as client:
        assert client.get("/api/v1/auth/me").status_code == 401
