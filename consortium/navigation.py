"""Navigation links shared by every app's menu entries."""

import functools

from django.urls import get_script_prefix, reverse


def nav_url(name: str) -> str:
    """``reverse(name)`` for a navigation link, worked out once per process and script prefix."""
    return _reversed(name, get_script_prefix())


@functools.lru_cache(maxsize=128)
def _reversed(name: str, script_prefix: str) -> str:
    return reverse(name)
