"""What is wrong with the gateway now, one line each, in the reader's language (issues #15,
#17): the page's overview gives the lines in English (its API's own texts are English,
docs/translations.md), the Telegram bot's /status in the reader's language.

The frames are texts of the notification catalogue (gateway/notify/locale, as the bot's
other answers); what fills them stays as the gateway wrote it, as on the page: a store's
or a part's name, an error, a model file's refusal.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Sequence

from gateway.core.failures import Failures
from gateway.core.storage import StorageHealth
from gateway.runtime.model_slot import ModelSlot

# The page's API and the log: the source texts as they are.
ENGLISH = gettext.NullTranslations()


def problem_lines(t: gettext.NullTranslations, storage: StorageHealth, held_alarms: int,
                  failures: Sequence[Failures], slots: Iterable[ModelSlot]) -> list[str]:
    """Every problem: the storage's (a full disk first), the parts failing, the assets
    without a model."""
    return (storage_lines(t, storage, held_alarms) + failure_lines(t, failures)
            + model_lines(t, slots))


def storage_lines(t: gettext.NullTranslations, storage: StorageHealth,
                  held_alarms: int) -> list[str]:
    """What cannot be written under data_dir, a full disk first: "disk full under
    /var/lib/uvelka: outbox holding 3 alarms in memory; not saved: alarm states"."""
    _ = t.gettext
    problems = storage.problems()
    lines = []
    if storage.disk_full:
        parts = [t.ngettext("outbox holding {n} alarm in memory",
                            "outbox holding {n} alarms in memory", held_alarms)
                 .format(n=held_alarms)] if held_alarms else []
        unsaved = sorted(store for store, problem in problems.items()
                         if problem.disk_full and store != "outbox")
        if unsaved:
            parts.append(_("not saved: {stores}").format(stores=", ".join(unsaved)))
        lines.append(_("disk full under {folder}: {what}").format(
            folder=storage.folder, what="; ".join(parts) or _("waiting")))
    lines += [_("{store}: {problem}").format(store=store, problem=problem.message)
              for store, problem in sorted(problems.items()) if not problem.disk_full]
    return lines


def failure_lines(t: gettext.NullTranslations, failures: Sequence[Failures]) -> list[str]:
    """The parts failing now (issue #17), with their last error."""
    return [t.gettext("{kind} {part} failing: {error}").format(kind=group.kind, part=part,
                                                                 error=error)
            for group in failures for part, error in group.failing().items()]


def model_lines(t: gettext.NullTranslations, slots: Iterable[ModelSlot]) -> list[str]:
    """The model slots whose file was refused at start and that have no model since."""
    return [t.gettext("asset {asset}: no {kind} model: {status}").format(
        asset=slot.asset.name, kind=slot.kind, status=slot.status)
        for slot in slots if slot.model is None]
