"""The base of every configuration model, and the field types sections share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """Immutable, strict, no unknown keys, no nan or inf (gateway.config.model's note)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _no_nul(value: Path) -> Path:
    # The OS refuses a path with a NUL with ValueError, at start rather than here (issue #17).
    if "\0" in str(value):
        raise ValueError("must not hold a NUL character")
    return value


FilePath = Annotated[Path, Field(strict=False), AfterValidator(_no_nul)]
