"""Folders as gzipped tar streams, packed and unpacked with limits.

Every transfer to and from the exchange is one ``.tar.gz`` of a folder.
Unpacking never trusts the archive: only regular files and folders are
extracted, every name is checked with :func:`~graders.exchange.names.check_relpath`,
nothing is overwritten, and the total size and number of files are capped
while reading (so a small archive that inflates to gigabytes stops early).

Used inside learner images too: imports nothing from :mod:`hub`.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from graders.exchange.names import UnsafeName, check_relpath

CHUNK = 1024 * 1024


class ArchiveError(ValueError):
    """An archive is malformed or holds something that may not be extracted."""


class ArchiveTooLarge(ArchiveError):
    """A folder or archive is over the size or file-count limit."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a folder: relative POSIX path, size in bytes, SHA-256."""

    path: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def human_size(nbytes: int) -> str:
    """``1536`` -> ``'1.5 KB'``; binary units, one decimal."""
    size = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover - loop always returns


Skip = Callable[[Path], bool]


def ignore_matcher(patterns: list[str]) -> Skip:
    """A predicate: does a file's or folder's *name* match a glob in ``patterns``
    (nbgrader's ``CourseDirectory.ignore``, e.g. ``.ipynb_checkpoints``)."""
    return lambda path: any(fnmatch.fnmatch(path.name, p) for p in patterns)


def walk_files(root: Path, ignore: Skip | None = None) -> list[tuple[str, Path]]:
    """``(relative posix path, absolute path)`` of every regular file under ``root``.

    Symbolic links are skipped (an archive never carries a link or what it
    points to); files and folders for which ``ignore(path)`` is true are
    skipped, folders with their contents. Sorted by relative path, so equal
    folders give equal archives.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames[:] = [
            d for d in dirnames
            if not (base / d).is_symlink() and not (ignore and ignore(base / d))
        ]  # fmt: skip
        for name in filenames:
            full = base / name
            if full.is_symlink() or not full.is_file() or (ignore and ignore(full)):
                continue
            found.append((full.relative_to(root).as_posix(), full))
    return sorted(found)


def folder_size(root: Path, ignore: Skip | None = None) -> tuple[int, int]:
    """``(total bytes, number of files)`` that :func:`pack` would send."""
    total = count = 0
    for _, full in walk_files(root, ignore):
        total += full.stat().st_size
        count += 1
    return total, count


def pack(
    root: Path,
    out: IO[bytes],
    *,
    ignore: Skip | None = None,
    exclude: frozenset[str] = frozenset(),
    max_bytes: int | None = None,
    max_files: int | None = None,
) -> list[FileEntry]:
    """Write the files under ``root`` to ``out`` as a gzipped tar; return them.

    ``exclude`` holds relative paths left out (e.g. ``timestamp.txt``). Raises
    :class:`ArchiveTooLarge` before writing anything when the folder is over
    ``max_bytes`` or ``max_files``, and :class:`ArchiveError` for a file name
    that could not be unpacked again.
    """
    files = [(rel, full) for rel, full in walk_files(root, ignore) if rel not in exclude]
    total = sum(full.stat().st_size for _, full in files)
    if max_bytes is not None and total > max_bytes:
        raise ArchiveTooLarge(
            f"{root.name} is {human_size(total)}; the limit is {human_size(max_bytes)}"
        )
    if max_files is not None and len(files) > max_files:
        raise ArchiveTooLarge(f"{root.name} has {len(files)} files; the limit is {max_files}")
    entries = []
    with tarfile.open(fileobj=out, mode="w|gz", format=tarfile.PAX_FORMAT) as tar:
        for rel, full in files:
            try:
                check_relpath(rel)
            except UnsafeName as err:
                raise ArchiveError(str(err)) from err
            info = tarfile.TarInfo(rel)
            info.size = full.stat().st_size
            info.mode = 0o644
            with full.open("rb") as fh:
                digest = _HashingReader(fh)
                tar.addfile(info, digest)
            entries.append(FileEntry(rel, info.size, digest.hexdigest()))
    return entries


def pack_bytes(root: Path, **kwargs: object) -> tuple[bytes, list[FileEntry]]:
    """:func:`pack` into memory; returns the archive and its files."""
    buf = io.BytesIO()
    entries = pack(root, buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue(), entries


def unpack(
    src: IO[bytes],
    dest: Path,
    *,
    max_bytes: int,
    max_files: int,
) -> list[FileEntry]:
    """Extract the gzipped tar ``src`` into the empty or new folder ``dest``.

    Only regular files and folders are extracted and names are checked. Raises
    :class:`ArchiveTooLarge` once the unpacked files pass ``max_bytes`` or
    ``max_files``, :class:`ArchiveError` for anything unsafe or malformed.
    ``dest`` may hold a partial result after an error; the caller removes it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    entries: list[FileEntry] = []
    total = 0
    try:
        with tarfile.open(fileobj=src, mode="r|gz") as tar:
            for member in tar:
                rel = _member_path(member)
                if member.isdir():
                    (dest / rel).mkdir(parents=True, exist_ok=True)
                    continue
                if len(entries) + 1 > max_files:
                    raise ArchiveTooLarge(f"more than {max_files} files; the limit is {max_files}")
                fh = tar.extractfile(member)
                if fh is None:  # pragma: no cover - regular files always have data
                    raise ArchiveError(f"{rel}: no data in the archive")
                entry, total = _write_member(fh, dest, str(rel), total, max_bytes)
                entries.append(entry)
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as err:
        name = os.path.relpath(err.filename, dest) if err.filename else "a name"
        raise ArchiveError(f"{name}: the archive holds it twice (as files or folders)") from err
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ArchiveError(f"not a readable .tar.gz archive ({err})") from err
    return entries


def _member_path(member: tarfile.TarInfo) -> Path:
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(
            f"{member.name!r} is a link or special file; archives hold files and folders only"
        )
    try:
        return Path(check_relpath(member.name))
    except UnsafeName as err:
        raise ArchiveError(str(err)) from err


def _write_member(
    fh: IO[bytes], dest: Path, rel: str, total: int, max_bytes: int
) -> tuple[FileEntry, int]:
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    size = 0
    with target.open("xb") as out:
        while chunk := fh.read(CHUNK):
            size += len(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise ArchiveTooLarge(f"the unpacked files pass {human_size(max_bytes)}, the limit")
            sha.update(chunk)
            out.write(chunk)
    target.chmod(0o644)
    return FileEntry(rel, size, sha.hexdigest()), total


class _HashingReader(io.RawIOBase):
    """Wraps a binary file; hashes what is read through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        super().__init__()
        self._fh = fh
        self._sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._sha.update(data)
        return data

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def file_entries(root: Path) -> list[FileEntry]:
    """The :class:`FileEntry` of every regular file under ``root`` (sorted)."""
    entries = []
    for rel, full in walk_files(root):
        sha = hashlib.sha256()
        with full.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                sha.update(chunk)
        entries.append(FileEntry(rel, full.stat().st_size, sha.hexdigest()))
    return entries
