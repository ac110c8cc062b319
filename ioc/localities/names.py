"""Name keys: accent-, case- and punctuation-insensitive forms of Vietnamese unit names."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

# Longest first, so "thanhpho" is tried before "tp" and "thitran" before "thi...".
TYPE_PREFIXES: tuple[str, ...] = (
    "thanhpho",
    "dackhu",
    "thitran",
    "thixa",
    "phuong",
    "huyen",
    "quan",
    "tinh",
    "tp",
    "xa",
)


@lru_cache(maxsize=65536)
def name_key(text: str) -> str:
    """Key for name matching: "Thành phố Hà Nội" and "thanh pho HA-NOI" both give "thanhphohanoi"."""
    # đ/Đ is a distinct letter, not d plus a combining mark, so NFD alone does not strip it.
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed.lower() if ch.isascii() and ch.isalnum())


def without_type_prefix(key: str) -> str | None:
    """The key with a leading unit type removed, or None when it has none (or nothing follows it)."""
    for prefix in TYPE_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return None


@lru_cache(maxsize=65536)
def exact_key(text: str) -> str:
    """Case- and spacing-insensitive but diacritic-sensitive: tells "Tân Thành" from "Tân Thạnh"."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text).casefold() if ch.isalnum())


def prefer_exact(name: str, candidates: list[T], names_of: Callable[[T], Iterable[str]]) -> list[T]:
    """Of accent-insensitive matches, those spelt exactly as given (all of them if none is)."""
    wanted = exact_key(name)
    exact = [c for c in candidates if any(wanted == exact_key(n) for n in names_of(c))]
    return exact or candidates
