"""TOML file -> validated `GatewayConfig`, or every problem at once, in file order.

`uvelka check-config` and the web page use `check_file` / `validate_text` and print the
same lines; the gateway itself calls `load_config`, which refuses a file with errors.
"""

from __future__ import annotations

import ast
import logging
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from drivers.base import DataType
from gateway.config.alarm_checks import check_alarms
from gateway.config.asset_checks import check_assets
from gateway.config.checks import PLACEHOLDERS, DeviceParts, check
from gateway.config.export import ExportSection, check_export
from gateway.config.messages import explain
from gateway.config.model import (
    AlarmConfig,
    AnalyticsSection,
    AssetConfig,
    DeviceConfig,
    GatewayConfig,
    GatewaySection,
    MqttSection,
    TagConfig,
    WebSection,
)
from gateway.config.mqtt_checks import check_mqtt
from gateway.config.notify import EmailSection, check_email
from gateway.config.problem import ConfigError, Finding, Loc, Problem, format_path
from gateway.config.sparkplug import SparkplugSection, check_sparkplug
from gateway.config.telegram import TelegramSection, check_telegram
from gateway.config.web_checks import check_web

logger = logging.getLogger(__name__)

_TOML_POSITION = re.compile(
    r"^(?P<message>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$",
    re.DOTALL,
)
_TOML_TABLE_TWICE = re.compile(r"^Cannot declare (?P<keys>\(.*\)) twice$", re.DOTALL)
_Model = TypeVar("_Model", bound=BaseModel)


def load_config(path: Path) -> GatewayConfig:
    """The validated configuration in `path`; logs its warnings, raises ConfigError on errors."""
    config, problems = _check(path)
    if config is None:
        raise ConfigError(problems)
    for problem in problems:
        logger.warning("%s", problem)
    return config


def check_file(path: Path) -> list[Problem]:
    """Every problem of the file at `path` (errors and warnings), in file order."""
    return _check(path)[1]


def checked_file(path: Path) -> tuple[GatewayConfig | None, list[Problem]]:
    """`check_file`, with the configuration when the file has no errors."""
    return _check(path)


def validate_text(
    text: str, file: str, base_dir: Path | None = None
) -> tuple[GatewayConfig | None, list[Problem]]:
    """Validate TOML `text` named `file`: the config (None if any error) and every problem.

    A relative `analytics.models_dir` is taken from the working directory, or from
    `base_dir` when given (the demo's embedded configuration and its shipped models).
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [_syntax_problem(exc, file)]
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively (issue #17).
        return None, [Problem(file, "", "arrays or inline tables nested too deeply to read; "
                              "no setting nests them more than one level")]
    except ValueError:
        # The only ValueError tomllib lets out: int() refusing a decimal integer longer than
        # sys.get_int_max_str_digits() (issue #17).
        return None, [_long_integer_problem(text, file)]
    return validate_values(raw, file, base_dir)


def validate_values(
    raw: dict[str, Any], file: str, base_dir: Path | None = None
) -> tuple[GatewayConfig | None, list[Problem]]:
    """`validate_text` of a text tomllib read as `raw`, which is left as it is: the device
    editor has read its candidate's text already (issue #10)."""
    if base_dir is not None:
        analytics = raw.get("analytics", {})
        if isinstance(analytics, dict):
            models_dir = analytics.get("models_dir", "models_onnx")
            if isinstance(models_dir, str):
                models = {**analytics, "models_dir": str(base_dir / models_dir)}
                raw = {**raw, "analytics": models}
    try:
        config: GatewayConfig | None = GatewayConfig.model_validate(raw)
        findings: list[Finding] = []
    except ValidationError as exc:
        config, findings = None, explain(exc, GatewayConfig)
    parts = _parts(raw)
    gateway = _valid(GatewaySection, raw.get("gateway", {}))
    findings += check(parts, gateway.name if gateway is not None else None)
    assets = _valid_items(AssetConfig, raw.get("assets"))
    findings += _asset_findings(raw, parts, assets)
    findings += _alarm_findings(raw, parts, assets)
    mqtt = _valid(MqttSection, raw["mqtt"]) if "mqtt" in raw else None
    if mqtt is not None:
        findings += check_mqtt(mqtt)
    web = _valid(WebSection, raw["web"]) if "web" in raw else None
    if web is not None:
        findings += check_web(web)
    email = _valid(EmailSection, raw["email"]) if "email" in raw else None
    if email is not None:
        findings += check_email(email)
    telegram = _valid(TelegramSection, raw["telegram"]) if "telegram" in raw else None
    if telegram is not None:
        findings += check_telegram(telegram)
    sparkplug = _valid(SparkplugSection, raw["sparkplug"]) if "sparkplug" in raw else None
    if sparkplug is not None:
        findings += check_sparkplug(
            sparkplug, "mqtt" in raw, (p.device.name for p in parts if p.device is not None),
            {index: asset.name for index, asset in assets.items()})
    export = _valid(ExportSection, raw["export"]) if "export" in raw else None
    if export is not None:
        findings += check_export(export)
    positions = _document_order(raw)
    findings.sort(key=lambda finding: _position(positions, finding.loc))
    problems = [
        Problem(file, format_path(finding.loc), finding.message, finding.severity)
        for finding in findings
    ]
    return (None if any(problem.is_error for problem in problems) else config), problems


def _check(path: Path) -> tuple[GatewayConfig | None, list[Problem]]:
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(file, "", f"cannot read the file: {exc.strerror or exc}")]
    try:
        # utf-8-sig: TOML is UTF-8, and Windows editors like to prepend a byte order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(file, f"line {line}", "not UTF-8 text; TOML files are UTF-8")]
    return validate_text(text, file)


def _syntax_problem(exc: tomllib.TOMLDecodeError, file: str) -> Problem:
    match = _TOML_POSITION.match(str(exc))
    if match is None:  # tomllib always appends a position; keep its words if that changes
        return Problem(file, "", f"TOML syntax error: {exc}")
    where = "end of file"
    if match["line"] is not None:
        where = f"line {match['line']}, column {match['column']}"
    return Problem(file, where, _syntax_message(match["message"]))


def _long_integer_problem(text: str, file: str) -> Problem:
    limit = sys.get_int_max_str_digits()
    long_number = re.search(rf"[0-9_]{{{limit + 1},}}", text)
    where = ""
    if long_number is not None:
        line_start = text.rfind("\n", 0, long_number.start()) + 1
        line = text.count("\n", 0, long_number.start()) + 1
        where = f"line {line}, column {long_number.start() - line_start + 1}"
    return Problem(file, where, f"an integer longer than {limit} digits cannot be read; "
                   "no setting needs more than a few")


def _syntax_message(message: str) -> str:
    if message == "Illegal character '\\n'":  # only a one-line string can meet a newline
        return "unclosed string: it must end on the line it starts"
    twice = _TOML_TABLE_TWICE.match(message)
    if twice is not None:
        keys = ast.literal_eval(twice["keys"])  # tomllib shows the table as a tuple repr
        return f"table [{'.'.join(keys)}] is declared twice"
    return message[:1].lower() + message[1:]


def _parts(raw: dict[str, Any]) -> list[DeviceParts]:
    """Each device's own keys and each of its tags validated on their own, for the checks."""
    devices = raw.get("devices")
    if not isinstance(devices, list):
        return []
    parts = []
    for device in devices:
        if not isinstance(device, dict):
            parts.append(DeviceParts(None))
            continue
        own = {key: value for key, value in device.items() if key != "tags"}
        tags = device.get("tags")
        valid_tags: dict[int, TagConfig] = {}
        refused: dict[int, frozenset[str]] = {}
        for index, raw_tag in enumerate(tags if isinstance(tags, list) else []):
            salvaged = _salvaged_tag(raw_tag)
            if salvaged is not None:
                valid_tags[index], keys = salvaged
                if keys:
                    refused[index] = keys
        url = own.get("url")
        url = url if isinstance(url, str) else None
        parts.append(DeviceParts(_valid(DeviceConfig, own), valid_tags, url, refused))
    return parts


def _salvaged_tag(raw: object) -> tuple[TagConfig, frozenset[str]] | None:
    """The tag validated without the keys the model refuses, and those keys (issue #14).

    A refused optional key takes its default, a refused required one a stand-in, so the
    checks can still run on the keys that were accepted; they skip the refused ones.
    """
    try:
        return TagConfig.model_validate(raw), frozenset()
    except ValidationError as exc:
        errors = exc.errors()
    if not isinstance(raw, dict) or any(not error["loc"] for error in errors):
        return None
    refused = frozenset(str(error["loc"][0]) for error in errors)
    kept = {key: value for key, value in raw.items() if key not in refused}
    stand_ins = {key: PLACEHOLDERS[key] for key in refused if key in PLACEHOLDERS}
    tag = _valid(TagConfig, kept | stand_ins)
    return None if tag is None else (tag, refused)


def _asset_findings(
    raw: dict[str, Any], parts: list[DeviceParts], assets: dict[int, AssetConfig]
) -> list[Finding]:
    analytics = _valid(AnalyticsSection, raw.get("analytics", {})) or AnalyticsSection()
    return check_assets(assets, list(_tag_types(parts)), analytics.models_dir)


def _alarm_findings(
    raw: dict[str, Any], parts: list[DeviceParts], assets: dict[int, AssetConfig]
) -> list[Finding]:
    alarms = _valid_items(AlarmConfig, raw.get("alarms"))
    named_assets = {asset.name: asset for asset in assets.values()}
    return check_alarms(alarms, _tag_types(parts), named_assets)


def _tag_types(parts: list[DeviceParts]) -> dict[str, DataType]:
    return {
        f"{part.device.name}.{tag.name}": tag.type
        for part in parts
        if part.device is not None
        for index, tag in part.tags.items()
        if not part.refused.get(index, frozenset()) & {"name", "type"}
    }


def _valid_items(model: type[_Model], raw: object) -> dict[int, _Model]:
    """The items of an array of tables that validate on their own, by index."""
    if not isinstance(raw, list):
        return {}
    return {i: item for i, entry in enumerate(raw) if (item := _valid(model, entry)) is not None}


def _valid(model: type[_Model], raw: object) -> _Model | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None  # already reported by the validation of the whole file


def _document_order(raw: object) -> dict[Loc, int]:
    """Each key path present in the file, numbered in the order it first appears.

    tomllib builds dicts in the order keys appear, and arrays keep their order, so a
    pre-order walk numbers the keys as they come in the file.
    """
    order: dict[Loc, int] = {}
    pending: list[tuple[Loc, object]] = [((), raw)]
    while pending:
        loc, value = pending.pop()
        order[loc] = len(order)
        children: list[tuple[Loc, object]] = []
        if isinstance(value, dict):
            children = [((*loc, key), item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [((*loc, index), item) for index, item in enumerate(value)]
        pending.extend(reversed(children))
    return order


def _position(order: dict[Loc, int], loc: Loc) -> int:
    """Where a problem sits: at its key, or at the nearest enclosing key for a missing one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in order:
            return order[loc[:end]]
    return -1
