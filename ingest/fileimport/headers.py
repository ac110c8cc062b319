"""Header text compared the way a person reads it: case, spacing, punctuation and diacritics aside.

Departments type their column headers by hand: "Mã xã", "MÃ XÃ", "Ma xa", "Mã  xã:" and "Mã_xã"
are the same column. Tone marks may be precomposed or combining, and placed old-style ("hoà") or
new-style ("hòa"); stripping every mark makes all of these compare equal. "đ" has no decomposition
and is mapped to "d" by hand.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("đ", "d").replace("Đ", "D")


def header_key(text: object) -> str:
    """The form two headers are compared in: "Số  Đối tượng:" → "so doi tuong"."""
    if text is None:
        return ""
    return _NOT_WORD.sub(" ", strip_diacritics(str(text)).lower()).strip()
