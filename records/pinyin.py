"""Pinyin of Chinese names, for search and matching."""

from pypinyin import lazy_pinyin


def to_pinyin(name: str) -> str:
    """``"张三"`` → ``"zhang san"``; Latin letters pass through lower-cased."""
    return " ".join(part.strip().lower() for part in lazy_pinyin(name or "") if part.strip())


def compact(pinyin: str) -> str:
    return "".join(pinyin.split()).lower()
