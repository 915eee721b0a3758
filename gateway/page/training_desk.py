"""Training from history as the Models page asks for it (issue #12): a job request checked
against the running configuration, and how much history each asset has.

A request names an asset and one of its models (`anomaly`, `rul`): the candidate is
archived as a version of that model's file, so the asset must have one. Its range is
checked here (the end after the start, not in the future); the rest (enough Good data,
inputs recorded) is the training process's to say, in its job's reason. The history span
of an asset's inputs (gateway.store.history_span) and what retention keeps (`kept_from`:
older rows are deleted) let the page warn before a range is cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from gateway.config.model import AssetConfig, GatewayConfig
from gateway.page.training_jobs import JobRequest
from gateway.store.history import History
from gateway.store.history_span import span_of


class BadRequest(ValueError):
    """A request the configuration cannot satisfy; str(exc) says why, in one line."""


@dataclass(frozen=True, slots=True)
class Asked:
    """What the page asked for (web.facade.TrainingFields, as the gateway reads it)."""

    asset: str
    kind: str
    start: datetime | None
    end: datetime | None
    supervised: bool


def job_request(config: GatewayConfig, asked: Asked, now: datetime) -> JobRequest:
    """The job for `asked`, or BadRequest naming what is wrong."""
    asset = _asset(config.assets, asked.asset)
    models = asset.models()
    if asked.kind not in ("anomaly", "rul"):
        raise BadRequest(f"kind: expected anomaly or rul, got {asked.kind!r}")
    if asked.kind not in models:
        raise BadRequest(
            f"asset {asset.name!r} has no {asked.kind} model file: a candidate is archived as"
            f" a version of it; name one in its [[assets]] entry ({asked.kind} = ...)"
        )
    if not asset.inputs:
        raise BadRequest(f"asset {asset.name!r} maps no inputs: nothing to train on")
    if asked.supervised and asked.kind != "anomaly":
        raise BadRequest("supervised training is for anomaly models")
    if asked.start is not None and asked.end is not None and asked.end <= asked.start:
        raise BadRequest("to: the end of the range must be after its start")
    for key, at in (("from", asked.start), ("to", asked.end)):
        if at is not None and at > now:
            raise BadRequest(f"{key}: {at.isoformat()} is in the future")
    kind: Literal["anomaly", "rul"] = "anomaly" if asked.kind == "anomaly" else "rul"
    return JobRequest(
        asset.name,
        kind,
        dict(asset.inputs),
        asset.interval,
        "" if asked.start is None else asked.start.isoformat(),
        "" if asked.end is None else asked.end.isoformat(),
        asked.supervised,
    )


def _asset(assets: Sequence[AssetConfig], name: str) -> AssetConfig:
    for asset in assets:
        if asset.name == name:
            return asset
    known = ", ".join(a.name for a in assets) or "none"
    raise BadRequest(f"asset: no asset {name!r} (assets: {known})")


async def asset_history(
    history: History, config: GatewayConfig, anomaly_labels: dict[str, int], now: datetime
) -> list[dict[str, Any]]:
    """Per asset with a model: its inputs' span in the history within retention, and what
    retention keeps."""
    retention = timedelta(seconds=config.history.retention)
    kept_from = now - retention
    found = []
    for asset in config.assets:
        kinds = list(asset.models())
        if not kinds:
            continue
        span = None
        if asset.inputs:
            span = await span_of(history.query, list(asset.inputs.values()), kept_from, now)
        found.append(
            {
                "asset": asset.name,
                "kinds": kinds,
                "history": None
                if span is None
                else {"first": span.first.isoformat(), "last": span.last.isoformat()},
                "retention_s": retention.total_seconds(),
                "kept_from": kept_from.isoformat(),
                "anomaly_labels": anomaly_labels.get(asset.name, 0),
            }
        )
    return found
