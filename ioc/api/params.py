"""Shared request-parameter types: bounded so that no input reaches the database it cannot store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import StringConstraints

# bigserial ids: an integer beyond int8 would be a database error, so it is a 422 here instead.
RowId = Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807)]
# Printable text: PostgreSQL refuses NUL in text, and control characters have no place in a name.
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
# Codes users and sources choose (usernames, source ids).
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._@-]{1,63}$")]
# A path segment naming a code (dossier, source): printable, bounded.
CodePath = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
