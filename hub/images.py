"""Build aione's images: a local Debian base where no registry answers, and the
learner image from ``images/learner/Dockerfile``.

Extra CA certificates (corporate TLS-inspecting proxies) are a build input:
each file given is copied into the build context's ``images/certs/`` and the
Dockerfile trusts it for apt, pip and Python at build and run time.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ImageBuildError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_BASE = "python:3.11-slim-bookworm"
LOCAL_BASE = "aione/base:bookworm"
LEARNER_IMAGE = "aione/learner:latest"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates", "tini", "fonts-nanum")
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def run(cmd: Sequence[str], *, input_file: Path | None = None, cwd: Path | None = None) -> str:
    """Run ``cmd``; log it, its output at debug on success; raise ImageBuildError on failure."""
    log.info("$ %s", " ".join(cmd))
    stdin = input_file.open("rb") if input_file else None
    try:
        proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError as err:
        raise ImageBuildError(
            f"{cmd[0]} is not installed; install it (apt-get install {cmd[0]})"
        ) from err
    finally:
        if stdin:
            stdin.close()
    if proc.returncode != 0:
        log.error("%s failed:\n%s%s", cmd[0], proc.stdout[-4000:], proc.stderr[-4000:])
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ImageBuildError(f"'{' '.join(cmd[:3])} ...' failed: {tail[0]}")
    log.debug("%s", proc.stdout[-4000:])
    return proc.stdout


def inputs_digest() -> str:
    """SHA-256 over every file the learner image is built from (Dockerfile, requirements,
    etc files, the graders package); stored as the image label ``aione.inputs``."""
    digest = hashlib.sha256()
    for top in (PROJECT_ROOT / "images" / "learner", PROJECT_ROOT / "graders"):
        for path in sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def image_label(name: str, label: str) -> str | None:
    """The value of ``label`` on local image ``name``, or None."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', name],
        capture_output=True,
        text=True,
    )
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value and value != "<no value>" else None


def is_current(tag: str = LEARNER_IMAGE) -> bool:
    """True when ``tag`` exists and was built from the current inputs."""
    return image_label(tag, "aione.inputs") == inputs_digest()


def image_exists(name: str) -> bool:
    """True when the local engine has ``name``."""
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def registry_reachable(image: str = UPSTREAM_BASE) -> bool:
    """True when ``image`` is local or can be pulled now."""
    if image_exists(image):
        return True
    proc = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=300)
    return proc.returncode == 0


def build_local_base(name: str = LOCAL_BASE, mirror: str = DEBIAN_MIRROR) -> str:
    """debootstrap a minimal Debian bookworm with Python 3.11 and ``docker import`` it."""
    with tempfile.TemporaryDirectory(prefix="aione-base-") as tmp:
        root = Path(tmp) / "rootfs"
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                "bookworm",
                str(root),
                mirror,
            ]
        )
        tarball = Path(tmp) / "rootfs.tar"
        run(["tar", "-C", str(root), "-cf", str(tarball), "."])
        run(["docker", "import", "-", name], input_file=tarball)
    log.info("Built local base image %s", name)
    return name


@dataclass(frozen=True)
class BuildPlan:
    """What :func:`build_learner` will do."""

    base_image: str
    tag: str
    extra_ca_certs: tuple[Path, ...]
    wheelhouse: Path | None


def plan_learner_build(
    base_image: str | None,
    extra_ca_certs: Sequence[Path] = (),
    wheelhouse: Path | None = None,
    tag: str = LEARNER_IMAGE,
) -> BuildPlan:
    """Check the inputs and choose the base: the given one, the upstream one when a
    registry answers, else the local Debian base (built if missing)."""
    for cert in extra_ca_certs:
        if not cert.is_file():
            raise ImageBuildError(f"extra CA certificate {cert} does not exist; give a PEM file")
        if b"-----BEGIN CERTIFICATE-----" not in cert.read_bytes():
            raise ImageBuildError(f"{cert} is not a PEM certificate (no BEGIN CERTIFICATE line)")
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise ImageBuildError(f"wheelhouse {wheelhouse} is not a directory of .whl files")
    if base_image is None:
        if registry_reachable():
            base_image = UPSTREAM_BASE
        else:
            log.warning("No image registry answers; using the local Debian base %s", LOCAL_BASE)
            base_image = LOCAL_BASE if image_exists(LOCAL_BASE) else build_local_base()
    elif not image_exists(base_image) and not registry_reachable(base_image):
        raise ImageBuildError(
            f"base image {base_image} is neither local nor pullable; "
            f"build the local one with 'aione images base' and pass --base-image {LOCAL_BASE}"
        )
    return BuildPlan(base_image, tag, tuple(extra_ca_certs), wheelhouse)


def _context(tmp: Path, plan: BuildPlan) -> Path:
    """A minimal build context: the Dockerfile's inputs and nothing else."""
    ctx = tmp / "context"
    shutil.copytree(PROJECT_ROOT / "images" / "learner", ctx / "images" / "learner")
    shutil.copytree(
        PROJECT_ROOT / "graders", ctx / "graders", ignore=shutil.ignore_patterns("__pycache__")
    )
    certs = ctx / "images" / "certs"
    certs.mkdir(parents=True)
    for i, cert in enumerate(plan.extra_ca_certs):
        shutil.copy(cert, certs / f"extra-{i}.crt")
    wheels = ctx / "images" / "wheels"
    wheels.mkdir(parents=True)
    if plan.wheelhouse:
        for wheel in plan.wheelhouse.glob("*.whl"):
            shutil.copy(wheel, wheels / wheel.name)
    return ctx


def build_learner(plan: BuildPlan) -> str:
    """Build the learner image; returns its tag. Raises ImageBuildError with the failing step."""
    with tempfile.TemporaryDirectory(prefix="aione-build-") as tmp:
        ctx = _context(Path(tmp), plan)
        cmd = [
            "docker",
            "build",
            "--tag",
            plan.tag,
            "--file",
            str(ctx / "images" / "learner" / "Dockerfile"),
            "--build-arg",
            f"BASE_IMAGE={plan.base_image}",
            "--label",
            f"aione.inputs={inputs_digest()}",
        ]
        if plan.wheelhouse:
            cmd += ["--build-arg", "TORCH_INDEX_URL="]
        run([*cmd, str(ctx)])
    log.info("Built %s from %s", plan.tag, plan.base_image)
    return plan.tag
