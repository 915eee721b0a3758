"""docs/mqtt.md stays true to the code: its schemas are the files, its examples valid, its
topics the ones the bridge uses."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from gateway.mqtt.topics import Topics
from tests.gateway.mqtt.support import SCHEMAS, schema

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
NAMES = sorted(path.stem for path in SCHEMAS.glob("*.json"))


def marked(kind: str) -> dict[str, str]:
    """The ```json block after each `<!-- kind: name -->` marker, by name."""
    blocks = re.findall(
        rf"^<!-- {kind}: ([\w-]+) -->\n```json\n(.*?)^```$", DOC, flags=re.DOTALL | re.MULTILINE
    )
    return dict(blocks)


def test_every_schema_file_is_shown_verbatim() -> None:
    shown = marked("schema")

    assert sorted(shown) == NAMES
    for name, text in shown.items():
        assert text == (SCHEMAS / f"{name}.json").read_text(encoding="utf-8"), name


@pytest.mark.parametrize("name", NAMES)
def test_the_example_of_each_payload_is_valid(name: str) -> None:
    schema(name).validate(json.loads(marked("example")[name]))


def test_the_topics_are_the_bridges() -> None:
    topics = Topics("<prefix>", "<gateway>")
    for topic in (
        topics.status,
        topics.alarm("<alarm>"),
        topics.asset_state("<asset>"),
        topics.ack("<alarm>"),
        topics.maintenance("<asset>"),
    ):
        assert f"| `{topic}` |" in DOC


def test_the_schemas_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["gateway"]
    assert [path.name for path in SCHEMAS.glob("*.json")]
    for path in SCHEMAS.glob("*.json"):
        assert any(path.relative_to(ROOT / "gateway").match(pattern) for pattern in patterns)
