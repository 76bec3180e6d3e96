"""Helpers for tests of printed documents: find the verification link on a print page and open it."""

import html
import re

from django.test import Client

LINK = re.compile(r'<a href="([^"]+)" data-verify-link>')


def verification_link(page: str) -> str:
    match = LINK.search(page)
    assert match, "no verification link on the printed page"
    return html.unescape(match.group(1))


def verdict(link: str, language: str = "en") -> tuple[str, str]:
    """Open the link as an anonymous visitor; (verdict, page)."""
    page = Client().get(link.removeprefix("http://testserver"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    found = re.search(r'data-verdict="(\w+)"', page)
    assert found, page
    return found.group(1), page
