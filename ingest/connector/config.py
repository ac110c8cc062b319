"""A connector's configuration, and the JSON paths that find items and the next cursor in a page.

Paths are dot-separated keys, with a number for a list index: "items", "data.records",
"paging.next", "results.0.items". The empty path is the answer itself (a bare JSON array of items).
Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PATH = re.compile(r"^(?:[A-Za-z0-9_$@-]+(?:\.[A-Za-z0-9_$@-]+)*)?$")
_MISSING = object()


class PathError(ValueError):
    """The answer has nothing at a configured path."""


@dataclass(frozen=True)
class ConnectorConfig:
    id: str
    stream: str
    source_id: str
    base_url: str
    cursor_param: str = "changed_since"
    items_path: str = "items"
    cursor_path: str = "next_cursor"
    initial_cursor: str | None = None
    auth_header: str | None = None
    auth_value: str | None = None
    auth_env: str | None = None
    interval_seconds: int = 300
    enabled: bool = True
    # "get": GET <base_url>?<cursor_param>=<cursor> with a credential header. "dvcqg": a provincial
    # gateway in the national portal's format: sign in at login_url (username, and the credential
    # as password) for a session, then POST {session, madonvi, service, <cursor_param>} per page.
    method: str = "get"
    login_url: str | None = None
    login_username: str | None = None
    service: str | None = None  # DongBoHoSoMC | CapNhatTienDoHoSoMC
    unit_id: str | None = None  # madonvi

    def credential(self, environ: dict[str, str]) -> str | None:
        """The stored credential, else the environment's."""
        return self.auth_value if self.auth_value is not None else environ.get(self.auth_env or "")

    def auth_headers(self, environ: dict[str, str]) -> dict[str, str]:
        """The credential header for the source's API: the stored value, else the environment's."""
        if not self.auth_header:
            return {}
        value = self.auth_value if self.auth_value is not None else environ.get(self.auth_env or "")
        return {self.auth_header: value} if value else {}


def extract(document: Any, path: str) -> Any:
    """The value at `path`; raises PathError when any step is missing."""
    if not path:
        return document
    value = document
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step, _MISSING)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            value = _MISSING
        if value is _MISSING:
            raise PathError(f"the answer has nothing at {path!r}")
    return value


def page_items(document: Any, path: str) -> list[Any]:
    items = extract(document, path)
    if not isinstance(items, list):
        raise PathError(f"the answer's {path or 'body'!r} is not a list of items")
    return items


def next_cursor(document: Any, path: str) -> str | None:
    """The next cursor as text (numbers are kept as their JSON text); None when absent or null."""
    try:
        value = extract(document, path)
    except PathError:
        return None
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value)
    return text if text and len(text) <= 1000 else None
