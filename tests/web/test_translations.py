"""The catalogues (issue #15): every text translated into Russian, none out of date with the
code, and the loader's behaviour (web/i18n.py)."""

from __future__ import annotations

import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from web.i18n import (
    DOMAIN,
    LANGUAGES,
    LOCALE_DIR,
    PLURAL_CATEGORIES,
    SOURCE_LANGUAGE,
    Language,
    MissingCatalogue,
    catalogue,
    script_messages,
)

ROOT = Path(__file__).resolve().parents[2]
# Every package's catalogues: <package>/locale/<language>/LC_MESSAGES/<domain>.po, whose
# texts are extracted from <package>.
CATALOGUES = sorted(ROOT.glob("web/locale/*/LC_MESSAGES/*.po")) + sorted(
    ROOT.glob("gateway/**/locale/*/LC_MESSAGES/*.po")
)
TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=language or path.parents[1].name)


def _source_of(po: Path) -> Path:
    return po.parents[3]  # <package>/locale/<language>/LC_MESSAGES/<domain>.po


def _key(message: Message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def test_the_page_and_the_notifications_have_catalogues() -> None:
    domains = {(po.parents[1].name, po.stem) for po in CATALOGUES}
    assert {(language, DOMAIN) for language in TRANSLATED} <= domains
    if (ROOT / "gateway" / "notify").is_dir():
        assert {(language, "notify") for language in TRANSLATED} <= domains


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: str(po.relative_to(ROOT)))
def test_every_message_is_translated(po: Path) -> None:
    untranslated = []
    for message in _read(po):
        if not message.id:
            continue
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        if message.fuzzy or not all(forms):
            untranslated.append(message.id)
    assert untranslated == [], f"{po.relative_to(ROOT)}: untranslated or fuzzy"


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: str(po.relative_to(ROOT)))
def test_the_catalogue_has_every_text_of_the_code_and_no_other(po: Path, tmp_path: Path) -> None:
    template = tmp_path / "extracted.pot"
    # What docs/translations.md tells a developer to run, with pyproject.toml's rules.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "pyproject.toml",
            "-o",
            str(template),
            str(_source_of(po).relative_to(ROOT)),
        ],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    extracted = {_key(message) for message in _read(template, SOURCE_LANGUAGE) if message.id}
    catalogued = {_key(message) for message in _read(po) if message.id}
    assert sorted(extracted - catalogued) == [], (
        f"texts missing from {po.relative_to(ROOT)}: run pybabel update (docs/translations.md)"
    )
    assert sorted(catalogued - extracted) == [], (
        f"texts no longer in the code still in {po.relative_to(ROOT)}: run pybabel update"
    )


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: str(po.relative_to(ROOT)))
def test_placeholders_survive_translation(po: Path) -> None:
    # A translation that misspells {device} would show the raw brace (or fail in Python).
    def names(text: str) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field}

    wrong = []
    for message in _read(po):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        expected = set().union(*(names(text) for text in ids))
        wrong += [(message.id, form) for form in forms if form and not names(form) <= expected]
    assert wrong == []


def test_the_source_language_is_the_msgids() -> None:
    english = catalogue(LOCALE_DIR, DOMAIN, "en")
    assert english.gettext("Overview") == "Overview"
    assert english.ngettext("{n} alarm", "{n} alarms", 2) == "{n} alarms"


def test_russian_titles_and_plural_forms() -> None:
    russian = catalogue(LOCALE_DIR, DOMAIN, "ru")
    assert russian.gettext("Overview") == "Обзор"
    assert catalogue(LOCALE_DIR, DOMAIN, "ru") is russian  # compiled once
    forms = ("{n} тег", "{n} тега", "{n} тегов")
    assert [russian.ngettext("{n} tag", "{n} tags", n) for n in (1, 2, 5, 11, 21, 22, 25)] == [
        forms[0],
        forms[1],
        forms[2],
        forms[2],
        forms[0],
        forms[1],
        forms[2],
    ]
    assert script_messages(LOCALE_DIR, DOMAIN, "ru")["plural"] == ["one", "few", "many"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_categories_name_the_catalogues_forms(language: Language) -> None:
    # The page scripts pick gettext's form n by the CLDR category Intl.PluralRules gives
    # (web/i18n.py PLURAL_CATEGORIES): both must agree on every count.
    rule = Locale.parse(language).plural_form
    translations = catalogue(LOCALE_DIR, DOMAIN, language)
    categories = PLURAL_CATEGORIES[language]
    for n in range(1000):
        chosen = translations.ngettext("0", "1", n) if language == SOURCE_LANGUAGE else None
        index = int(chosen) if chosen is not None else translations.plural(n)  # type: ignore[attr-defined]
        assert categories[index] == rule(n), (language, n)


def test_unknown_language_and_missing_catalogue_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"language must be one of ru, en \(got 'de'\)"):
        catalogue(LOCALE_DIR, DOMAIN, "de")
    with pytest.raises(MissingCatalogue, match="no ru catalogue for 'nothing'"):
        catalogue(tmp_path, "nothing", "ru")
