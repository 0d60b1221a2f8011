"""Resource profiles: what a learner may start (CPU, memory, GPUs, image), by group.

The operator lists profiles in the ``profiles:`` settings section
(:class:`ProfilesSettings`). A profile with ``groups`` is open only to members
of those JupyterHub groups (admins may use every profile); one without is open
to everyone. The pure functions here decide what a user may pick and render
the spawn page's form; the spawner applies the chosen :class:`Profile`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.errors import ProfileError
from hub.gpu_inventory import check_mig_type

Lang = Literal["ko", "en"]
FORM_FIELD = "profile"
_MEM_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class Label(BaseModel):
    """A name shown to learners, in Korean and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ko: str = Field(min_length=1, description="Korean label, e.g. 'GPU 실습 (A100 1개)'.")
    en: str = Field(min_length=1, description="English label, e.g. 'GPU lab (1 A100)'.")


class Profile(BaseModel):
    """One choice on the spawn page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
        description="Slug: lowercase letters, digits and '-', e.g. 'gpu-a100'.",
    )
    label: Label = Field(description="What learners see, {ko: ..., en: ...}.")
    cpu_limit: float = Field(gt=0, le=1024, description="CPU cores, e.g. 2 or 0.5.")
    mem_limit: str = Field(description="Memory limit: a number with K, M, G or T, e.g. 4G.")
    gpus: int = Field(
        default=0, ge=0, le=16, description="Whole GPUs (or MIG slices, see mig_type)."
    )
    mig_type: str | None = Field(
        default=None,
        description="Give one MIG slice of this profile (e.g. '1g.10gb') instead of a GPU.",
    )
    gpu_shared_max: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Up to this many learners share one GPU (1: a GPU each).",
    )
    image: str | None = Field(
        default=None, description="Image for this profile; default: spawner.image."
    )
    groups: list[str] = Field(
        default_factory=list, description="JupyterHub groups allowed; empty: everyone."
    )
    default_for: list[str] = Field(
        default_factory=list, description="Groups for which this profile is preselected."
    )

    @field_validator("mem_limit")
    @classmethod
    def _mem(cls, value: str) -> str:
        if not _MEM_RE.match(value.strip()):
            raise ValueError(
                f"{value!r} is not a memory size; write a number with K, M, G or T, e.g. 4G"
            )
        return value.strip()

    @field_validator("mig_type")
    @classmethod
    def _mig(cls, value: str | None) -> str | None:
        return None if value is None else check_mig_type(value)

    @model_validator(mode="after")
    def _gpu_fields(self) -> Profile:
        if self.mig_type is not None and self.gpus != 1:
            raise ValueError(
                f"profile {self.name!r}: mig_type gives one MIG slice; set gpus: 1 (got {self.gpus})"
            )
        if self.gpu_shared_max > 1 and self.gpus == 0:
            raise ValueError(
                f"profile {self.name!r}: gpu_shared_max needs gpus >= 1; remove it or set gpus"
            )
        outside = sorted(set(self.default_for) - set(self.groups)) if self.groups else []
        if outside:
            raise ValueError(
                f"profile {self.name!r} is the default for {outside} but open only to "
                f"{self.groups}; add them to groups or remove them from default_for"
            )
        return self

    @property
    def mem_limit_bytes(self) -> int:
        """``mem_limit`` in bytes (K, M, G, T are powers of 1024)."""
        number, unit = _MEM_RE.match(self.mem_limit).groups()  # type: ignore[union-attr]
        return int(float(number) * _UNITS[unit])

    @property
    def is_open(self) -> bool:
        """True when every user may pick this profile."""
        return not self.groups

    def allows(self, user_groups: Iterable[str], is_admin: bool = False) -> bool:
        """True when a user in ``user_groups`` (or an admin) may pick this profile."""
        return is_admin or self.is_open or bool(set(self.groups) & set(user_groups))

    def summary(self, lang: Lang = "ko") -> str:
        """Resources in one line, e.g. ``CPU 2 · 메모리 8G · GPU 1``."""
        cpu = f"{self.cpu_limit:g}"
        parts = [f"CPU {cpu}", f"{'메모리' if lang == 'ko' else 'memory'} {self.mem_limit}"]
        if self.gpus:
            gpu = f"GPU {self.gpus}" if self.mig_type is None else f"GPU MIG {self.mig_type}"
            if self.gpu_shared_max > 1:
                gpu += (
                    f" ({self.gpu_shared_max}명 공유)"
                    if lang == "ko"
                    else f" (shared by up to {self.gpu_shared_max})"
                )
            parts.append(gpu)
        return " · ".join(parts)


class ProfilesSettings(BaseModel):
    """The ``profiles:`` section: the list and the profile preselected for everyone."""

    model_config = ConfigDict(extra="forbid")

    default: str = Field(
        description="Name of the profile preselected for everyone; must be open to all."
    )
    profiles: list[Profile] = Field(min_length=1, description="The profiles, in form order.")

    @model_validator(mode="after")
    def _consistent(self) -> ProfilesSettings:
        names = [p.name for p in self.profiles]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"profile names must be unique; rename the repeated {twice}")
        if self.default not in names:
            raise ValueError(
                f"default profile {self.default!r} is not listed; pick one of: {names}"
            )
        if not self.by_name(self.default).is_open:
            raise ValueError(
                f"default profile {self.default!r} is limited to groups; "
                "the default must be open to everyone (remove its groups)"
            )
        owner: dict[str, str] = {}
        for p in self.profiles:
            for group in p.default_for:
                if group in owner:
                    raise ValueError(
                        f"group {group!r} is in default_for of both {owner[group]!r} and "
                        f"{p.name!r}; keep it in one"
                    )
                owner[group] = p.name
        return self

    def by_name(self, name: str) -> Profile:
        """The profile called ``name``; KeyError if none."""
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(name)


def allowed_profiles(
    profiles: Sequence[Profile], user_groups: Iterable[str], is_admin: bool = False
) -> list[Profile]:
    """The profiles a user in ``user_groups`` may pick, in settings order (admins: all)."""
    groups = set(user_groups)
    return [p for p in profiles if p.allows(groups, is_admin)]


def default_profile(
    settings: ProfilesSettings, user_groups: Iterable[str], is_admin: bool = False
) -> Profile:
    """The preselected profile: the first allowed one whose ``default_for`` names
    one of ``user_groups``, else ``settings.default`` (open to everyone)."""
    groups = set(user_groups)
    for p in allowed_profiles(settings.profiles, groups, is_admin):
        if groups & set(p.default_for):
            return p
    return settings.by_name(settings.default)


def resolve_profile(
    settings: ProfilesSettings,
    name: str | None,
    user_groups: Iterable[str],
    is_admin: bool = False,
) -> Profile:
    """The profile a user asked for (``None`` or ``""``: their default).

    Raises :class:`ProfileError` if ``name`` is unknown or not open to the
    user, naming the profile, the groups that may use it, and the profiles
    the user may pick instead.
    """
    groups = set(user_groups)
    if not name:
        return default_profile(settings, groups, is_admin)
    allowed = [p.name for p in allowed_profiles(settings.profiles, groups, is_admin)]
    try:
        profile = settings.by_name(name)
    except KeyError:
        raise ProfileError(
            f"there is no profile {name!r}; pick one of: {', '.join(allowed)}"
        ) from None
    if not profile.allows(groups, is_admin):
        yours = ", ".join(sorted(groups)) or "none"
        raise ProfileError(
            f"profile {name!r} is only for members of the groups {', '.join(profile.groups)} "
            f"(your groups: {yours}); pick one of: {', '.join(allowed)}, "
            "or ask an admin to add you to one of those groups"
        )
    return profile


def profile_name_from_form(formdata: Mapping[str, Sequence[str]]) -> str | None:
    """The profile name posted by :func:`render_options_form` (JupyterHub's
    ``options_from_form`` gets ``{field: [values]}``); None if absent."""
    values = formdata.get(FORM_FIELD) or []
    return values[0].strip() if values and values[0].strip() else None


_TITLE = {"ko": "실습 환경을 고르세요", "en": "Choose your lab environment"}


def render_options_form(profiles: Sequence[Profile], default_name: str, lang: Lang = "ko") -> str:
    """HTML for JupyterHub's spawn page: one radio button per profile.

    ``profiles`` should already be filtered with :func:`allowed_profiles`.
    Each choice shows the label in ``lang`` (the other language beneath) and
    its CPU, memory and GPU. ``default_name`` is checked (the first profile
    if it is not among ``profiles``). Every text is HTML-escaped. Raises
    :class:`ProfileError` if ``profiles`` is empty, ValueError for an unknown
    ``lang``.
    """
    if lang not in _TITLE:
        raise ValueError(f"lang must be 'ko' or 'en', not {lang!r}")
    if not profiles:
        raise ProfileError("no profile is open to you; ask an admin to add you to a group")
    checked = default_name if any(p.name == default_name for p in profiles) else profiles[0].name
    other: Lang = "en" if lang == "ko" else "ko"
    rows = []
    for p in profiles:
        ident = html.escape(f"aione-profile-{p.name}", quote=True)
        main = html.escape(getattr(p.label, lang))
        second = html.escape(getattr(p.label, other))
        rows.append(
            f'<div class="radio aione-profile">\n'
            f'  <label for="{ident}">\n'
            f'    <input type="radio" name="{FORM_FIELD}" id="{ident}" '
            f'value="{html.escape(p.name, quote=True)}"'
            f"{' checked' if p.name == checked else ''}>\n"
            f'    <strong>{main}</strong> <small lang="{other}">{second}</small><br>\n'
            f'    <span class="text-muted">{html.escape(p.summary(lang))}</span>\n'
            f"  </label>\n"
            f"</div>"
        )
    title = html.escape(_TITLE[lang])
    return (
        f'<fieldset class="aione-profiles" lang="{lang}">\n'
        f"<legend>{title}</legend>\n" + "\n".join(rows) + "\n</fieldset>\n"
    )
