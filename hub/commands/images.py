"""``aione images``: build the local base and the learner image."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub import images

EPILOG = """\
examples:
  aione images build
      build aione/learner:latest on python:3.11-slim-bookworm, or on a local
      Debian base (built with debootstrap) when no image registry answers
  aione images build --extra-ca-cert /etc/ssl/certs/ca-certificates.crt
      trust a corporate TLS-inspecting proxy's CA inside the image (pip, apt, Python)
  aione images build --wheelhouse /opt/wheels
      prefer local wheels (e.g. the CPU build of PyTorch) over the network
  aione images base
      only build the local Debian base image aione/base:bookworm
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    parser = sub.add_parser(
        "images",
        help="build the base and learner images",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = action.add_parser(
        "build",
        help="build the learner image",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("--base-image", help="base image (default: upstream, else local Debian)")
    build.add_argument(
        "--extra-ca-cert",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="PEM CA certificate to trust in the image (repeatable)",
    )
    build.add_argument("--wheelhouse", type=Path, help="directory of wheels to prefer")
    build.add_argument("--tag", default=images.LEARNER_IMAGE, help="image tag to build")
    build.add_argument(
        "--if-changed",
        action="store_true",
        help="skip the build when the image was built from the current inputs",
    )
    build.set_defaults(func=_build)
    base = action.add_parser("base", help="build the local Debian base image with debootstrap")
    base.add_argument("--name", default=images.LOCAL_BASE, help="tag of the base image")
    base.add_argument("--mirror", default=images.DEBIAN_MIRROR, help="Debian mirror URL")
    base.set_defaults(func=_base)


def _build(args: argparse.Namespace) -> int:
    if args.if_changed and images.is_current(args.tag):
        print(f"{args.tag} is up to date")
        return 0
    plan = images.plan_learner_build(args.base_image, args.extra_ca_cert, args.wheelhouse, args.tag)
    print(f"building {plan.tag} on {plan.base_image} ...")
    images.build_learner(plan)
    print(f"built {plan.tag}")
    return 0


def _base(args: argparse.Namespace) -> int:
    print(f"building {args.name} with debootstrap (about a minute) ...")
    images.build_local_base(args.name, args.mirror)
    print(f"built {args.name}")
    return 0
