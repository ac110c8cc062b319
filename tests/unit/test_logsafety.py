"""Secrets never reach a log line; ordinary text passes untouched. Real loggers, real formatters."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from uvicorn.logging import AccessFormatter, DefaultFormatter

from ioc.auth.credentials import new_credential
from ioc.logsafety import UVICORN_LOGGERS, RedactSecrets, install_redaction, redact

CREDENTIALS = {kind: new_credential(kind) for kind in ("session", "access", "refresh", "display", "source")}
JWT = jwt.encode({"sub": "lan", "ioc_role": "admin"}, "a-test-secret-of-enough-length-32b", algorithm="HS256")


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own with one handler that carries the filter, as install_redaction sets up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("ioc.test.logsafety")
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.DEBUG
    yield logger, stream
    logger.handlers = []


CASES: list[tuple[str, str, tuple[Any, ...], list[str], str]] = [
    # (case, template, args, secrets that must vanish, text expected in the output)
    *(
        (f"{kind} credential", "key %s refused", (value,), [value], "key [redacted] refused")
        for kind, value in CREDENTIALS.items()
    ),
    ("credential in the template", f"login with {CREDENTIALS['access']} ok", (), [CREDENTIALS["access"]], "with ["),
    ("JWT", "token %s expired", (JWT,), [JWT, JWT.split(".")[2]], "token [redacted] expired"),
    (
        "password in a query string",
        "POST %s",
        ("/login?user=lan&password=hunter2&next=/",),
        ["hunter2"],
        "password=[redacted]&next=/",
    ),
    ("password joined to its template", "password=%s", ("hunter2",), ["hunter2"], "password=[redacted]"),
    ("libpq connection string", "connect %s", ("host=db password=s3cr3t dbname=ioc",), ["s3cr3t"], "dbname=ioc"),
    ("JSON password", "%s", ('{"username": "lan", "password": "hun\\"ter2"}',), ["hun", "ter2"], '"password": "['),
    ("dict repr password", "%s", ({"new_password": "p@ss w0rd"},), ["p@ss", "w0rd"], "'new_password': '[redacted]'"),
    ("DSN password", "database %s", ("postgresql://ioc:s3cr3t@db:5432/ioc",), ["s3cr3t"], "ioc:[redacted]@db:5432"),
    (
        "authorization header line",
        "headers:\nAuthorization: Bearer %s\nHost: ioc",
        ("opaque-token-from-somewhere",),
        ["opaque-token"],
        "Authorization: [redacted]\nHost: ioc",
    ),
    ("basic auth header", "Authorization: Basic %s", ("bGFuOmh1bnRlcjI=",), ["bGFuOmh1bnRlcjI"], "Authorization: ["),
    (
        "ASGI header list",
        "scope headers %s",
        ([(b"authorization", b"Bearer opaque"), (b"cookie", b"ioc_session=abc; theme=dark"), (b"host", b"x")],),
        ["opaque", "abc", "theme"],
        "(b'host', b'x')",
    ),
    (
        "header dict",
        "%s",
        ({"Cookie": "sid=1", "Set-Cookie": "sid=2; HttpOnly", "X-API-Key": "k-123"},),
        ["sid=", "k-123"],
        "'Set-Cookie': '[redacted]'",
    ),
    ("cookie header line", "Cookie: sid=abc123; lang=vi", (), ["abc123", "lang=vi"], "Cookie: [redacted]"),
    ("loose bearer credential", "retry with Bearer %s", ("abcdefghijklmnop1234",), ["abcdefghij"], "Bearer ["),
]


@pytest.mark.parametrize(("template", "args", "secrets", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_secrets_come_out_redacted(
    captured: tuple[logging.Logger, io.StringIO],
    template: str,
    args: tuple[Any, ...],
    secrets: list[str],
    expected: str,
) -> None:
    logger, stream = captured
    logger.warning(template, *args)
    output = stream.getvalue()
    assert "[redacted]" in output and expected in output, output
    for secret in secrets:
        assert secret not in output, output


ORDINARY = [
    "Đã nhận 120 hồ sơ từ nguồn hcm-dvc; 3 hồ sơ bị từ chối",
    'GET /api/v1/status?province=01 HTTP/1.1" 200',
    "role claim ioc_role is missing; scope claim ioc_scope ok",
    "Bearer token expired; please sign in again",
    "passwords must have at least 12 characters",
    "session cookie expired for user lan",
    "connected to postgresql://db:5432/ioc",
    "eyJ alone is not a token, nor is a.b.c",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_untouched(captured: tuple[logging.Logger, io.StringIO], text: str) -> None:
    logger, stream = captured
    logger.info("%s", text)
    logger.info(text.replace("%", "%%"))
    assert stream.getvalue() == f"INFO {text}\nINFO {text}\n"
    assert redact(text) == text


@pytest.mark.parametrize("text", [c[1] % c[2] if c[2] else c[1] for c in CASES])
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_dict_arguments_are_redacted(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("user %(user)s used %(key)s", {"user": "lan", "key": CREDENTIALS["source"]})
    assert stream.getvalue() == "INFO user lan used [redacted]\n"


def test_a_secret_in_an_exception_is_redacted(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ConnectionError("could not connect to postgresql://ioc:s3cr3t@db/ioc")
    except ConnectionError:
        logger.exception("database down")
    output = stream.getvalue()
    assert "Traceback" in output and "ioc:[redacted]@db/ioc" in output and "s3cr3t" not in output


def test_uvicorn_access_lines_keep_their_format(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/v1/live?token={CREDENTIALS['display']}&password=x1", "1.1", 101), None,
    )  # fmt: skip
    assert RedactSecrets().filter(record)
    handler.handle(record)
    request_line = '"GET /api/v1/live?token=[redacted]&password=[redacted] HTTP/1.1"'
    assert stream.getvalue() == f"127.0.0.1:5000 - {request_line} 101 Switching Protocols\n"
    assert "Logging error" not in capsys.readouterr().err


def test_uvicorn_colour_messages_do_not_bring_the_secret_back() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s", use_colors=True))
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "password=%s", ("hunter2",), None)
    record.color_message = "password=\x1b[1m%s\x1b[0m"
    assert RedactSecrets().filter(record)
    handler.handle(record)
    assert "hunter2" not in stream.getvalue() and "password=[redacted]" in stream.getvalue()


@pytest.fixture
def clean_filters() -> Iterator[None]:
    targets: list[logging.Filterer] = [*logging.getLogger().handlers]
    for name in UVICORN_LOGGERS:
        targets += [logging.getLogger(name), *logging.getLogger(name).handlers]
    saved = {id(target): list(target.filters) for target in targets}
    yield
    for target in targets:
        target.filters = saved[id(target)]


@pytest.mark.usefixtures("clean_filters")
def test_install_redaction_is_idempotent_and_covers_uvicorn(capsys: pytest.CaptureFixture[str]) -> None:
    install_redaction()
    install_redaction()
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        assert sum(isinstance(f, RedactSecrets) for f in logger.filters) == 1
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, RedactSecrets) for f in handler.filters) == 1
    # A record logged on a uvicorn logger is redacted before any handler sees it.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        logger.error("refused %s", JWT)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "refused [redacted]\n"
