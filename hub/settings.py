"""Operator settings: one YAML file, validated on load.

Config flows one way (as in The Littlest JupyterHub): built-in defaults, then
the operator's file validated by the pydantic models below, then the pure
``update_*`` functions of :mod:`hub.configure` that set traitlets. Every model
forbids unknown keys, so a typo is an error that names the key, not a silently
ignored setting.

The file is found from, in order: the ``--config`` option, ``$AIONE_CONFIG``,
``/etc/aione/aione.yaml`` if it exists. With no file every default works: a
SQLite hub database and secrets in the state directory, the hub on
http://127.0.0.1:8000.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.errors import SettingsError
from hub.gpu_inventory import GpuSettings
from hub.profiles import Label, Profile, ProfilesSettings
from hub.roles import COURSE_ID_RE
from hub.swarmconfig import SwarmSection

SYSTEM_CONFIG = Path("/etc/aione/aione.yaml")
_BYTES_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_bytes(value: str | int) -> int:
    """Return the number of bytes in ``"512M"``, ``"2G"``, ``"1.5GiB"`` or an int.

    Raises ``ValueError`` naming the accepted forms.
    """
    if isinstance(value, int):
        return value
    match = _BYTES_RE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. 512M, 2G or 1.5G")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def default_state_dir() -> Path:
    """Where state lives when the settings do not say: ``$AIONE_STATE_DIR``,
    else ``/var/lib/aione`` for root, else ``~/.local/state/aione``."""
    env = os.environ.get("AIONE_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/aione")
    return Path.home() / ".local" / "state" / "aione"


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TlsSection(Section):
    """HTTPS on the public proxy with the operator's certificate (no Let's Encrypt)."""

    cert: Path = Field(description="PEM certificate chain, e.g. /etc/aione/tls/hub.crt.")
    key: Path = Field(description="PEM private key (mode 0600), e.g. /etc/aione/tls/hub.key.")

    @field_validator("cert", "key")
    @classmethod
    def _readable(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"{value} is not a file; give the path of the PEM file on the hub")
        return value


class HubSection(Section):
    ip: str = Field("127.0.0.1", description="Address the public proxy listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the public proxy listens on.")
    hub_port: int = Field(8081, ge=1, le=65535, description="Port of the hub's internal API.")
    proxy_api_port: int = Field(8001, ge=1, le=65535, description="Proxy REST API port.")
    exchange_port: int = Field(8090, ge=1, le=65535, description="Port of the exchange service.")
    db_url: str | None = Field(
        None, description="SQLAlchemy URL of the hub database; default SQLite in the state dir."
    )
    admin_users: list[str] = Field(default_factory=list, description="Hub administrators.")
    concurrent_spawn_limit: int = Field(
        100, ge=1, description="Most spawns pending at once; more get a clear 'host full' page."
    )
    start_timeout: int = Field(120, ge=5, description="Seconds a server may take to start.")
    http_timeout: int = Field(60, ge=5, description="Seconds a started server may take to answer.")
    tls: TlsSection | None = Field(
        None, description="Serve HTTPS with these files {cert, key}; default plain HTTP."
    )


class SpawnerSection(Section):
    backend: Literal["docker", "swarm"] = Field(
        "docker",
        description=(
            "'docker': one container per learner on this host; 'swarm': one service per "
            "learner on Docker Swarm workers (the hub runs on a manager; docs/swarm.md)."
        ),
    )
    swarm: SwarmSection = Field(
        default_factory=SwarmSection, description="Swarm placement, used when backend is swarm."
    )
    image: str = Field("aione/learner:latest", description="Default learner image.")
    network: str = Field("aione-net", description="Docker network of learner containers.")
    container_prefix: str = Field("aione", description="Learner containers are PREFIX-USERNAME.")
    home_volume: str = Field(
        "aione-home-{username}", description="Named volume per learner at /home/jovyan."
    )
    data_volume: str = Field("aione-data", description="Shared data volume, mounted read-only.")
    data_mount: str = Field("/srv/data", description="Where the shared data volume appears.")
    cpu_limit: float = Field(1.0, gt=0, description="CPU cores of the default profile.")
    mem_limit: str = Field("2G", description="Memory of the default profile, e.g. 2G.")
    docker_threads: int = Field(
        8, ge=1, le=64, description="Threads for Docker calls, so one slow call blocks no one."
    )
    docker_host: str | None = Field(
        None, description="Docker engine URL; default: $DOCKER_HOST or the local socket."
    )
    max_servers: int | None = Field(
        None,
        ge=1,
        description=(
            "Most learner servers on this host; more get a clear 'host full' message. "
            "Default: 90% of the engine's memory divided by 512 MiB (a learner's typical "
            "working set; memory limits are ceilings, not use)."
        ),
    )

    @field_validator("mem_limit")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_bytes(value)
        return value

    @field_validator("home_volume")
    @classmethod
    def _has_username(cls, value: str) -> str:
        if "{username}" not in value:
            raise ValueError("must contain {username}, e.g. aione-home-{username}")
        return value


class CullerSection(Section):
    enabled: bool = Field(True, description="Run the idle culler service.")
    timeout: int = Field(3600, ge=60, description="Stop servers idle this many seconds.")
    every: int = Field(300, ge=10, description="Check this often (seconds).")


class OidcGroupRule(Section):
    """Members of a provider group get an aione role, courses and a cohort."""

    group: str = Field(
        min_length=1,
        description=(
            "Provider group as sent in the groups claim, e.g. /companies/acme/learners "
            "(Keycloak full path; the leading / is optional). '*' matches within one "
            "path segment, '**' across segments: /companies/*/instructors."
        ),
    )
    role: Literal["learner", "instructor", "admin"] = Field(
        description="learner: own server; instructor: grading of the courses; admin: all."
    )
    courses: list[str] = Field(
        default_factory=list, description="Course ids whose learner or instructor group to join."
    )
    cohort: str | None = Field(None, description="Cohort whose group members join (learners).")

    @field_validator("courses")
    @classmethod
    def _course_ids(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not COURSE_ID_RE.match(c)]
        if bad:
            raise ValueError(f"{bad} are not course ids; use the ids listed under 'courses:'")
        return value

    @field_validator("cohort")
    @classmethod
    def _cohort_name(cls, value: str | None) -> str | None:
        if value is not None and not COURSE_ID_RE.match(value):
            raise ValueError("use lowercase letters, digits and dashes, e.g. acme-2026")
        return value


class OidcSection(Section):
    """Sign-in through the organisation's OpenID Connect provider (auth.kind: oidc)."""

    issuer: str = Field(
        "", description="Issuer URL, e.g. https://sso.example.org/realms/aione (no trailing /)."
    )
    authorize_url: str | None = Field(None, description="Default: from the issuer's discovery.")
    token_url: str | None = Field(None, description="Default: from the issuer's discovery.")
    userdata_url: str | None = Field(None, description="Default: from the issuer's discovery.")
    client_id: str = Field("", description="Client id registered at the provider.")
    client_secret_file: Path | None = Field(
        None,
        description="File holding the client secret; default: $AIONE_OIDC_CLIENT_SECRET.",
    )
    callback_url: str | None = Field(
        None,
        description="Public URL of /hub/oauth_callback; default: guessed from each request.",
    )
    username_claim: str = Field("preferred_username", description="Claim naming the user.")
    groups_claim: str = Field(
        "groups", description="Claim listing the user's groups; dotted for nested claims."
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        description="Scopes to ask for; add the one that releases the groups claim if needed.",
    )
    login_service: str = Field(
        "기관 계정 / organisation account", description="Shown on the sign-in button."
    )
    refresh_age: int = Field(
        300, ge=0, description="Re-read the user's groups after this many seconds (0: never)."
    )
    validate_cert: bool = Field(True, description="Check the provider's TLS certificate.")
    rules: list[OidcGroupRule] = Field(
        default_factory=list, description="Group rules; users in no rule's group are refused."
    )

    @field_validator("issuer", "authorize_url", "token_url", "userdata_url", "callback_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL, e.g. https://sso.example.org/realms/aione")
        return value.rstrip("/") if value else value


class AuthSection(Section):
    kind: Literal["password", "oidc"] = Field(
        "password",
        description=(
            "'password': embedded accounts from cohort imports (no sign-up); "
            "'oidc': the organisation's OpenID Connect provider (see oidc)."
        ),
    )
    oidc: OidcSection = Field(
        default_factory=OidcSection,
        validate_default=True,
        description="The provider, used when kind is oidc.",
    )

    @field_validator("oidc")
    @classmethod
    def _oidc_complete(cls, value: OidcSection, info: Any) -> OidcSection:
        if info.data.get("kind") != "oidc":
            if value != OidcSection():
                raise ValueError("is set but auth.kind is 'password'; set kind: oidc or remove it")
            return value
        missing = [k for k in ("issuer", "client_id") if not getattr(value, k)]
        if missing:
            raise ValueError(f"auth.kind is oidc: set {' and '.join(missing)} under auth.oidc")
        if not value.rules:
            raise ValueError(
                "auth.kind is oidc: add at least one rule under auth.oidc.rules, e.g. "
                "{group: /companies/acme/learners, role: learner, courses: [mfg-2026]}"
            )
        return value


class CourseEntry(Section):
    id: str = Field(description="Course id: lowercase letters, digits and dashes, e.g. mfg-2026.")
    track: str | None = Field(
        None, description="Catalog track under courses/ whose assignments this course uses."
    )
    title: str = Field("", description="Display title.")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not COURSE_ID_RE.match(value):
            raise ValueError("use lowercase letters, digits and dashes (at most 48), e.g. mfg-2026")
        return value


class Settings(Section):
    """The whole operator settings file."""

    state_dir: Path = Field(default_factory=default_state_dir, description="Where state lives.")
    hub: HubSection = Field(default_factory=HubSection)
    spawner: SpawnerSection = Field(default_factory=SpawnerSection)
    culler: CullerSection = Field(default_factory=CullerSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    courses: list[CourseEntry] = Field(default_factory=list, description="Courses on this hub.")
    profiles: ProfilesSettings | None = Field(
        None,
        description="Resource profiles; default: one profile 'default' from spawner limits.",
    )
    gpu: GpuSettings = Field(default_factory=GpuSettings, description="GPU inventory and quotas.")
    grading: GradingSection = Field(
        default_factory=lambda: GradingSection(), description="Sandboxed autograding."
    )
    exchange: ExchangeSection = Field(
        default_factory=lambda: ExchangeSection(), description="The assignment exchange."
    )
    sessions: SessionsSection = Field(
        default_factory=lambda: SessionsSection(), description="Scheduled lab sessions."
    )

    @field_validator("courses")
    @classmethod
    def _unique_courses(cls, value: list[CourseEntry]) -> list[CourseEntry]:
        ids = [c.id for c in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"course ids must be unique; repeated: {', '.join(dupes)}")
        return value

    def resource_profiles(self) -> ProfilesSettings:
        """The profiles; without a ``profiles`` section, one open profile from the spawner's
        limits, named ``default``."""
        if self.profiles is not None:
            return self.profiles
        only = Profile(
            name="default",
            label=Label(ko="기본 (CPU)", en="Standard (CPU)"),
            cpu_limit=self.spawner.cpu_limit,
            mem_limit=self.spawner.mem_limit,
        )
        return ProfilesSettings(default="default", profiles=[only])

    def course(self, course_id: str) -> CourseEntry | None:
        """The course with this id, or None."""
        return next((c for c in self.courses if c.id == course_id), None)

    @property
    def db_url(self) -> str:
        """The hub database URL (SQLite in the state dir unless set)."""
        return self.hub.db_url or f"sqlite:///{self.state_dir / 'jupyterhub.sqlite'}"


def find_config(explicit: str | os.PathLike[str] | None) -> Path | None:
    """Return the settings file to read, or None to use the defaults."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("AIONE_CONFIG")
    if env:
        return Path(env)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings file; ``overrides`` replace top-level or
    dotted keys (``{"hub.port": 9000, "state_dir": "/tmp/x"}``) after reading.

    Raises :class:`SettingsError` naming the file, the key and the fix.
    """
    source = find_config(path)
    data = _read_yaml(source) if source else {}
    for dotted, value in overrides.items():
        if value is not None:
            _set_dotted(data, dotted, value)
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise SettingsError(_describe(err, source)) from err


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SettingsError(
            f"{path}: cannot read the settings file ({err.strerror}); "
            "fix the path given by --config or $AIONE_CONFIG"
        ) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SettingsError(f"{path}: not valid YAML ({err}); fix the syntax") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the top level must be a mapping of sections, e.g. 'hub:'")
    return data


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def _describe(err: ValidationError, source: Path | None) -> str:
    """One line per problem: file, dotted key, what is wrong, the fix."""
    where = str(source) if source else "settings"
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(problem["loc"]))
            lines.append(f"{where}: key '{key}' is unknown; remove it or use one of: {allowed}")
        else:
            got = problem.get("input")
            msg = problem["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: key '{key}': {msg} (got {got!r}); fix the value")
    return "; ".join(lines)


# Sections defined beside their concepts; imported last because those modules use the
# helpers above, then the model is completed with them.
from graders.exchange.settings import ExchangeSection  # noqa: E402
from graders.settings import GradingSection  # noqa: E402
from hub.sessions import SessionsSection  # noqa: E402

Settings.model_rebuild()
