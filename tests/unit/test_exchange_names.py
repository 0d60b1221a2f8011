"""Path safety of the exchange: names, relative paths, archives."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from graders.exchange import archive
from graders.exchange.names import UnsafeName, check_name, check_relpath


@pytest.mark.parametrize(
    "name", ["ps1", "PS-1_final", "kim.minji@example.org", "과제1", "a..b", "2026-hw.3"]
)
def test_good_names(name: str) -> None:
    assert check_name(name, "assignment") == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "_x", "-x", "a b", "a\x00b", "x" * 129,
     "a+b", "*"],
)  # fmt: skip
def test_bad_names(name: str) -> None:
    with pytest.raises(UnsafeName, match="assignment name"):
        check_name(name, "assignment")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.ipynb", "a.ipynb"),
        ("data/x.csv", "data/x.csv"),
        ("dir/", "dir"),
        ("한글/파일.txt", "한글/파일.txt"),
    ],
)
def test_good_relpaths(value: str, expected: str) -> None:
    assert str(check_relpath(value)) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a/./b", "'.'"),
        ("a//b", "'//'"),
        ("a\\..\\b", "backslash"),
        ("a\nb", "control"),
        ("/".join(["d"] * 33), "deeper"),
        ("x" * 256, "longer"),
    ],
)
def test_bad_relpaths(value: str, why: str) -> None:
    with pytest.raises(UnsafeName, match=why):
        check_relpath(value)


def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info in members:
            payload = (data or {}).get(info.name, b"")
            info.size = len(payload) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(payload) if info.isfile() else None)
    buf.seek(0)
    return buf


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (_file("../evil.txt"), "'..'"),
        (_file("/abs.txt"), "absolute"),
        (_file("a/../../evil.txt"), "'..'"),
        (_link("link", "/etc/passwd", tarfile.SYMTYPE), "link or special"),
        (_link("hard", "/etc/passwd", tarfile.LNKTYPE), "link or special"),
    ],
)
def test_unpack_refuses_escapes(tmp_path: Path, member: tarfile.TarInfo, why: str) -> None:
    src = _tar([member], {member.name: b"x"})
    with pytest.raises(archive.ArchiveError, match=why):
        archive.unpack(src, tmp_path / "dest", max_bytes=10**6, max_files=10)
    assert not (tmp_path / "evil.txt").exists()


def test_unpack_refuses_duplicates_and_garbage(tmp_path: Path) -> None:
    src = _tar([_file("a.txt"), _file("a.txt")], {"a.txt": b"1"})
    with pytest.raises(archive.ArchiveError, match="twice"):
        archive.unpack(src, tmp_path / "d1", max_bytes=10**6, max_files=10)
    folder = tarfile.TarInfo("a")
    folder.type = tarfile.DIRTYPE
    src = _tar([folder, _file("a")], {"a": b"1"})
    with pytest.raises(archive.ArchiveError, match="^a: the archive holds it twice"):
        archive.unpack(src, tmp_path / "d3", max_bytes=10**6, max_files=10)
    src = _tar([_file("a"), _file("a/b")], {"a": b"1", "a/b": b"2"})
    with pytest.raises(archive.ArchiveError, match="twice"):
        archive.unpack(src, tmp_path / "d4", max_bytes=10**6, max_files=10)
    with pytest.raises(archive.ArchiveError, match="not a readable"):
        archive.unpack(io.BytesIO(b"not a tarball"), tmp_path / "d2", max_bytes=10, max_files=1)


def test_unpack_limits_stop_a_bomb_early(tmp_path: Path) -> None:
    big = _tar([_file("zeros.bin")], {"zeros.bin": bytes(3 * 1024 * 1024)})
    assert len(big.getvalue()) < 64 * 1024  # compresses well: the limit is on unpacked bytes
    with pytest.raises(archive.ArchiveTooLarge, match="1.0 MB"):
        archive.unpack(big, tmp_path / "d", max_bytes=1024 * 1024, max_files=10)
    many = _tar([_file(f"f{i}") for i in range(5)])
    with pytest.raises(archive.ArchiveTooLarge, match="more than 3 files"):
        archive.unpack(many, tmp_path / "m", max_bytes=10**6, max_files=3)


def test_pack_round_trip_skips_links_and_ignored(tmp_path: Path) -> None:
    src = tmp_path / "ps1"
    (src / "data").mkdir(parents=True)
    (src / "ps1.ipynb").write_text("{}")
    (src / "data" / "x.csv").write_text("1,2\n")
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "ps1-checkpoint.ipynb").write_text("{}")
    (src / "secret").symlink_to("/etc/hostname")
    (src / "timestamp.txt").write_text("forged")
    body, entries = archive.pack_bytes(
        src, ignore=archive.ignore_matcher([".ipynb_checkpoints"]),
        exclude=frozenset({"timestamp.txt"}),
    )  # fmt: skip
    assert [e.path for e in entries] == ["data/x.csv", "ps1.ipynb"]
    got = archive.unpack(io.BytesIO(body), tmp_path / "out", max_bytes=10**6, max_files=10)
    assert got == entries
    assert (tmp_path / "out" / "data" / "x.csv").read_text() == "1,2\n"
    assert not (tmp_path / "out" / "secret").exists()


def test_pack_refuses_over_limit_before_writing(tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.mkdir()
    (src / "blob").write_bytes(bytes(2048))
    out = io.BytesIO()
    with pytest.raises(archive.ArchiveTooLarge, match="big is 2.0 KB; the limit is 1.0 KB"):
        archive.pack(src, out, max_bytes=1024)
    assert out.getvalue() == b""
