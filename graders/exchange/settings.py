"""The ``exchange:`` section of the operator settings.

Composed into :class:`hub.settings.Settings` as ``exchange``. ``hub.settings``
imports this module at its end, so this module imports ``hub.settings`` at its
own end (either may be imported first).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SERVICE_NAME = "aione-exchange"


class ExchangeSection(BaseModel):
    """The hub-native nbgrader exchange (service ``aione-exchange``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(True, description="Run the exchange service and point learners at it.")
    submission_size_limit: str = Field(
        "100M",
        description="Largest submission (all its files, unpacked), e.g. 100M. Bigger ones are "
        "refused with a message naming the size and the limit.",
    )
    release_size_limit: str = Field(
        "1G", description="Largest released assignment or feedback of one student, e.g. 1G."
    )
    max_files: int = Field(
        2000, ge=1, description="Most files in one submission, release or feedback."
    )
    url: str | None = Field(
        None,
        description="URL learner servers use to reach the exchange. Default: the learner "
        "network's gateway at hub.exchange_port. Set it (e.g. to the hub's public URL + "
        "/services/aione-exchange/) when learners run on other hosts.",
    )
    trusted_services: list[str] = Field(
        default_factory=lambda: ["aione-automation"],
        description="Hub services whose tokens act as instructors of every course.",
    )
    membership_cache_s: float = Field(
        10.0, ge=0, description="Seconds a caller's groups are remembered (0: ask every time)."
    )
    formgrader_frame: Literal["launcher", "same-origin"] = Field(
        "launcher",
        description="How the formgrader appears inside JupyterLab on instructors' servers. "
        "'launcher': the frame shows a button that opens the formgrader in its own tab (safe "
        "on a hub where all servers share one origin). 'same-origin': the formgrader itself "
        "is framed (frame-ancestors 'self'); only safe when every user server has its own "
        "origin, since otherwise a learner's page could frame an instructor's formgrader.",
    )

    @field_validator("submission_size_limit", "release_size_limit")
    @classmethod
    def _size(cls, value: str) -> str:
        if parse_bytes(value) < 1024:
            raise ValueError(f"{value!r} is too small; give at least 1K")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") + "/"

    @property
    def submission_limit_bytes(self) -> int:
        return parse_bytes(self.submission_size_limit)

    @property
    def release_limit_bytes(self) -> int:
        return parse_bytes(self.release_size_limit)


# hub.settings composes ExchangeSection, so it is imported only once that class exists.
from hub.settings import Settings, parse_bytes  # noqa: E402


def exchange_settings(settings: Settings) -> ExchangeSection:
    """``settings.exchange`` (the defaults for a Settings object without one)."""
    section = getattr(settings, "exchange", None)
    return section if isinstance(section, ExchangeSection) else ExchangeSection()
