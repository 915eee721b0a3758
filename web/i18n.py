"""The page's and the notifications' languages: gettext catalogues made with Babel (issue #15).

How to mark a text a person reads (docs/translations.md has the whole workflow):

- Python, where a request or an audience gives the language: get its translations and
  call them. The source text is the English msgid; placeholders are `{name}`, filled
  with str.format *after* translating, so the translator can move them::

      _ = catalogue(LOCALE_DIR, "web", language).gettext
      text = _("Device {device} is down").format(device=name)
      count = catalogue(...).ngettext("{n} alarm", "{n} alarms", n).format(n=n)

  On the page, `web.language.translations(request)` is that catalogue for the request.
  Texts defined at import time (tables, constants) are marked with `N_("...")` (which
  returns its argument unchanged, for the extractor) and translated where they are shown:
  `_(title)`.
- Page scripts (web/static/*.js): `import { t, tn } from "./common.js"`, then
  `t("Acknowledge")`, `t("Device {device} is down", { device })`,
  `tn("{n} alarm", "{n} alarms", count)` (`n` is filled in). The frame carries the
  catalogue of the request's language; dates and numbers go through `language` (also
  exported by common.js) with Intl.
- Only literal strings are extracted: `_(f"...")`, `t(variable)` or a concatenation
  cannot be found by `pybabel extract` and stay English; nor can a `t()` written inside
  another `t()`'s arguments (translate it into a variable first).

Log lines, check-config messages and API `error` texts read by scripts stay English.

A package keeps its catalogues in `<package>/locale/<language>/LC_MESSAGES/<domain>.po`
(web: `web/locale`, domain "web"; notifications: `gateway/notify/locale`, domain
"notify"). English is the source language and needs no catalogue. The .po files are
compiled in memory the first time a language is asked for (Babel's read_po and
write_mo): there are no .mo files to build, commit or let go stale. That first time
parses the file (0.1-0.3 s for the page's): do it in a thread before the event loop
needs it (web.language.load_catalogues does for the page).

This module imports no aiohttp: `gateway.notify` uses it as the page does.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from pathlib import Path
from typing import Final, Literal, TypeAlias, get_args

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

logger = logging.getLogger(__name__)

Language: TypeAlias = Literal["ru", "en"]
# Plant staff read Russian first: Russian is the product's default (issue #15).
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "ru"
SOURCE_LANGUAGE: Final[Language] = "en"  # the msgids themselves
LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "web"
# The names of the languages as their readers write them (the language menu).
LANGUAGE_NAMES: Final[dict[Language, str]] = {"ru": "Русский", "en": "English"}

# The CLDR plural category (what a browser's Intl.PluralRules.select names) of each of the
# language's gettext plural forms, in the catalogue's order; the page scripts' tn() picks a
# form by it. Written out rather than read from Babel's locale data, which would hold ~3 MiB
# a language; tests/web/test_translations.py checks it against both for counts 0-999.
PLURAL_CATEGORIES: Final[dict[Language, tuple[str, ...]]] = {
    "ru": ("one", "few", "many"),
    "en": ("one", "other"),
}


class MissingCatalogue(LookupError):
    """A language other than the source language has no catalogue for a domain."""


def N_(message: str) -> str:  # noqa: N802 -- the name the extractor knows (Babel's default)
    """Mark `message` for extraction where it is defined; translate it where it is shown."""
    return message


def parse_language(value: str) -> Language | None:
    """`value` as one of LANGUAGES, or None when it is not one."""
    return next((language for language in LANGUAGES if language == value), None)


def catalogue(locale_dir: Path, domain: str, language: str) -> gettext.NullTranslations:
    """The translations of `domain` into `language` from
    `<locale_dir>/<language>/LC_MESSAGES/<domain>.po`, compiled once per process.

    The source language gets NullTranslations (the msgids are its texts). Raises
    MissingCatalogue for another language without a .po file, and ValueError for a
    language not in LANGUAGES.
    """
    return _compiled(locale_dir.resolve(), domain, _known(language))


def script_messages(locale_dir: Path, domain: str, language: str) -> dict[str, object]:
    """What the page scripts' `t`/`tn` need for `language`: the translations of the
    messages found in .js files, and the CLDR plural category of each plural form."""
    return _script_messages(locale_dir.resolve(), domain, _known(language))


def _known(language: str) -> Language:
    known = parse_language(language)
    if known is None:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)} (got {language!r})")
    return known


@functools.cache
def _compiled(locale_dir: Path, domain: str, language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    path = _po_path(locale_dir, domain, language)
    if not path.is_file():
        raise MissingCatalogue(f"no {language} catalogue for {domain!r}: {path} is missing")
    with path.open("rb") as po:
        parsed = read_po(po, locale=language, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, parsed, use_fuzzy=False)  # a fuzzy guess is shown as the English text
    compiled.seek(0)
    logger.debug("catalogue %s/%s loaded from %s (%d messages)", domain, language, path,
                 len(parsed))
    return gettext.GNUTranslations(compiled)


@functools.cache
def _script_messages(locale_dir: Path, domain: str, language: Language) -> dict[str, object]:
    messages: dict[str, str | list[str]] = {}
    if language != SOURCE_LANGUAGE:
        with _po_path(locale_dir, domain, language).open("rb") as po:
            parsed = read_po(po, locale=language, domain=domain)
        for message in parsed:
            in_script = any(path.endswith(".js") for path, _line in message.locations)
            if not message.id or message.fuzzy or not in_script:
                continue
            if isinstance(message.id, str) and isinstance(message.string, str):
                if message.string:
                    messages[message.id] = message.string
            elif isinstance(message.string, tuple | list) and all(message.string):
                messages[message.id[0]] = list(message.string)
    return {"language": language, "plural": list(PLURAL_CATEGORIES[language]),
            "messages": messages}


def _po_path(locale_dir: Path, domain: str, language: str) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{domain}.po"
