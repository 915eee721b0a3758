"""docs/sparkplug.md stays true to the code: every [sparkplug] key with its default, and
the tests its conformance table names exist."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config.sparkplug import SparkplugSection

ROOT = Path(__file__).parents[3]
DOC = (ROOT / "docs" / "sparkplug.md").read_text(encoding="utf-8")
HERE = Path(__file__).parent


def keys_table() -> dict[str, str]:
    start = DOC.index("| Key | Default | Meaning |")
    rows = {}
    for line in DOC[start:].splitlines()[2:]:
        if not line.startswith("| `"):
            break
        key, default, _ = (cell.strip() for cell in line.strip("|").split(" | ", 2))
        rows[key.strip("`")] = default
    return rows


def test_every_key_is_documented_with_its_default() -> None:
    table = keys_table()
    assert set(table) == set(SparkplugSection.model_fields)
    for name, field in SparkplugSection.model_fields.items():
        if field.is_required():
            assert table[name] == "(required)", name
        elif field.default is None:
            assert not table[name].startswith("`"), name  # described in words
        else:
            assert table[name] == f"`{str(field.default).lower()}`", name


def test_the_conformance_table_names_tests_that_exist() -> None:
    named = set(re.findall(r"(test_\w+\.py)(?:::(test_\w+))?", DOC))
    assert named
    for file, test in named:
        text = (HERE / file).read_text(encoding="utf-8")
        assert not test or f"def {test}(" in text, f"{file}::{test}"
