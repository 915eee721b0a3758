"""docs/notifications.md stays true to the code: its example validates, its tables list
every event and every rule key with their defaults."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config import validate_text
from gateway.config.notify import EVENT_NAMES, AudienceRules
from gateway.notify.events import NotificationKind

DOC = (Path(__file__).parents[3] / "docs" / "notifications.md").read_text(encoding="utf-8")


def test_the_example_is_valid_but_for_its_files() -> None:
    (example,) = re.findall(r"```toml\n(.*?)```", DOC, re.DOTALL)
    config, problems = validate_text(example, "notifications.md")
    # The example names files of a real installation; everything else must pass.
    assert [p.message for p in problems] == [
        "cannot read /etc/uvelka/smtp.password: no such file",
        "cannot read /etc/uvelka/plant-ca.pem: no such file",
        "cannot read /etc/uvelka/telegram.token: no such file",
    ]
    assert config is None


def test_every_event_and_rule_key_is_documented() -> None:
    assert {kind.value for kind in NotificationKind} | {"alarm"} == set(EVENT_NAMES)
    for name in EVENT_NAMES:
        assert f"`{name}`" in DOC or f'`"{name}"`' in DOC, name
    for key in AudienceRules.model_fields:
        assert re.search(rf"^\| `{key}` \|", DOC, re.MULTILINE), key
