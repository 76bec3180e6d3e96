"""Simplified Chinese is complete: every user-facing string has a zh-hans translation."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", "var", ".git", "staticfiles", "test-artifacts", "node_modules", "__pycache__", ".pytest_cache"}


def catalogues(root: Path) -> list[Path]:
    """Every app's zh-hans catalogue, nested apps (consortium/dashboard) included."""
    found = []
    for path in root.rglob("locale/zh_Hans/LC_MESSAGES/django.po"):
        if not SKIP_DIRS.intersection(path.relative_to(root).parts):
            found.append(path)
    return sorted(found)


def untranslated(po_path: Path) -> list[str]:
    po = polib.pofile(str(po_path))
    missing = [entry.msgid for entry in po.untranslated_entries()]
    missing += [f"(fuzzy) {entry.msgid}" for entry in po.fuzzy_entries()]
    missing += [entry.msgid for entry in po if entry.msgid_plural and not all(entry.msgstr_plural.values())]
    return missing


def test_there_is_a_catalogue_for_the_project():
    assert ROOT / "consortium/locale/zh_Hans/LC_MESSAGES/django.po" in catalogues(ROOT)


@pytest.mark.parametrize("po_path", catalogues(ROOT), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_empty_or_fuzzy_translation(po_path):
    assert untranslated(po_path) == []


@pytest.mark.parametrize("po_path", catalogues(ROOT), ids=lambda p: str(p.relative_to(ROOT)))
def test_compiled_catalogue_matches_its_source(po_path):
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"compile {po_path} (make messages)"
    compiled = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in polib.mofile(str(mo_path)) if e.msgid}
    source = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in polib.pofile(str(po_path)).translated_entries()}
    assert compiled == source


@pytest.mark.skipif(shutil.which("xgettext") is None and os.environ.get("CI") != "true", reason="needs GNU gettext")
def test_every_string_in_the_code_is_in_a_catalogue(tmp_path):
    """Extract the strings afresh from a copy of the tree: anything new and untranslated fails."""
    copy = tmp_path / "tree"
    shutil.copytree(ROOT, copy, ignore=lambda d, names: [n for n in names if n in SKIP_DIRS])
    env = {**os.environ, "CONSORTIUM_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    missing = {str(po.relative_to(copy)): untranslated(po) for po in catalogues(copy)}
    assert {path: strings for path, strings in missing.items() if strings} == {}


@pytest.mark.django_db
def test_pages_are_chinese_by_default_and_english_on_request(chain, login):
    client = login(chain["staff"]["clinician"])
    assert "今日就诊" in client.get(reverse("home")).content.decode()
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert "Today's visits" in client.get(reverse("home")).content.decode()


def test_login_page_in_both_languages(client):
    assert "登录" in client.get(reverse("login")).content.decode()
    assert "Log in" in client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_catalogues_agree_where_they_share_a_string():
    """Django serves a msgid from the first catalogue that has it: two apps translating the same
    string differently means one of them shows the other's wording. Use a context to tell them apart."""
    translations: dict[tuple, dict[str, str]] = {}
    for po_path in catalogues(ROOT):
        for entry in polib.pofile(str(po_path)).translated_entries():
            text = entry.msgstr or str(sorted(entry.msgstr_plural.items()))
            translations.setdefault((entry.msgctxt, entry.msgid), {})[str(po_path.relative_to(ROOT))] = text
    conflicts = {key: found for key, found in translations.items() if len(set(found.values())) > 1}
    assert conflicts == {}
