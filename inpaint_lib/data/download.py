"""``python -m inpaint_lib.data download NAME``: fetch a published data set, check it, convert it.

``tinyimagenet32``: ``tiny-imagenet-200.zip`` (Stanford CS231n, 248,100,043 bytes, checked by MD5) is
fetched over HTTP with the standard library into ``<root>/tinyimagenet32/raw/``: first to
``tiny-imagenet-200.zip.part``, renamed to its own name (atomically) once size and MD5 match, then
converted by :func:`~.converters.convert_tinyimagenet`. A transfer that breaks resumes from the partial
file's size with an HTTP Range request (a few times in one run; the same command again after that); a
server that ignores Range, or a resumed file whose checksum fails (the partial file was damaged), starts
over from zero, saying so in one line. The checked zip is kept, so a later conversion needs no network.

``cifar10``: torchvision's downloader, through :func:`~.converters.convert_cifar10` (``--download``).

Every failure is one :class:`DownloadError` line naming the problem and the fix: no network (where to
download by hand and which ``convert`` command to run then), a checksum that fails after a full
download, a disk that is full or not writable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..utils import progress_bar
from .converters import CIFAR10_BINARY_URL, CONVERTERS, convert_cifar10
from .store import DATASETS, DataError, data_root, dataset_path

__all__ = ["Source", "SOURCES", "DOWNLOADABLE", "DownloadError", "download_folder", "fetch", "download_dataset",
           "md5sum"]


@dataclass(frozen=True)
class Source:
    """A published file: its name, where it is, its size in bytes and its MD5."""

    filename: str
    url: str
    size: int
    md5: str


# the files `download` fetches itself (tests replace an entry with a file served locally)
SOURCES: dict[str, Source] = {
    "tinyimagenet32": Source("tiny-imagenet-200.zip", "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                             248_100_043, "90528d7ca1a48142e341f4ef8d21d0de"),
}
DOWNLOADABLE = ("cifar10", "tinyimagenet32")

RETRIES = 5          # a transfer that breaks after receiving bytes is resumed this many times in one run
RETRY_WAIT_S = 2.0   # seconds before each resumption
TIMEOUT_S = 60.0     # seconds without a byte before a connection counts as broken
CHUNK = 1 << 20


class DownloadError(DataError):
    """A download that failed; the message is one line naming the problem and the fix."""


class _Broken(Exception):
    """A transfer that stopped (or never started); ``got`` bytes of it reached the partial file."""

    def __init__(self, reason: str, got: int = 0):
        super().__init__(reason)
        self.reason, self.got = reason, got


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _one_line(err: BaseException | str) -> str:
    text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return " ".join(text.split())[:160]


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def md5sum(path: str | os.PathLike) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def download_folder(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where ``download`` keeps the published files of ``name``: ``<root>/<name>/raw/`` (as for cifar10)."""
    return data_root(root) / name / "raw"


def _disk_error(path: Path, err: OSError) -> DownloadError:
    return DownloadError(f"cannot write {path} ({err.strerror or _one_line(err)}): free some disk space, or choose "
                         "a writable data root with --root or $INPAINT_DATA")


def _by_hand(source: Source, name: str, root) -> str:
    root_option = f" --root {root}" if root is not None else ""
    return (f"download {source.url} by hand ({source.size:,} bytes, md5 {source.md5}) and run "
            f"`python -m inpaint_lib.data{root_option} convert {name} PATH/{source.filename}`")


def _transfer(source: Source, part: Path, progress: bool) -> int:
    """One HTTP request: append to ``part`` from its size (a Range request), or write it from zero.

    Returns the offset the bytes were written from (0: ``part`` was started over). Raises :class:`_Broken`
    when the network fails, :class:`DownloadError` when the disk does or the server sends another file.
    """
    offset = _size(part)
    request = urllib.request.Request(source.url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # Range Not Satisfiable: the partial file is not a prefix of this one
            _say(f"the server cannot resume from byte {offset:,} (HTTP 416): downloading from the start")
            part.unlink()
            return _transfer(source, part, progress)
        raise _Broken(f"HTTP {err.code} {err.reason}") from None
    except (OSError, http.client.HTTPException) as err:  # URLError, refused, reset, timed out
        raise _Broken(_one_line(getattr(err, "reason", None) or err)) from None
    with response:
        if offset:
            content_range = response.headers.get("Content-Range", "")
            if response.status != 206:
                _say(f"the server ignored the request to resume (HTTP {response.status}, not 206): "
                     "downloading from the start")
                offset = 0
            elif not content_range.startswith(f"bytes {offset}-"):
                _say(f"the server resumed from the wrong place ({content_range!r}): downloading from the start")
                part.unlink()
                return _transfer(source, part, progress)
        length = response.headers.get("Content-Length")
        if not offset and length is not None and int(length) != source.size:
            raise DownloadError(f"{source.url} sends {int(length):,} bytes, but {source.filename} has "
                                f"{source.size:,}: it is not the published file (a proxy's or a login page?); "
                                "check the address, or download it by hand and run `convert`")
        got = 0
        try:
            with open(part, "ab" if offset else "wb") as f, \
                    progress_bar(total=source.size, initial=offset, desc=source.filename, unit="B", unit_scale=True,
                                 enabled=progress) as bar:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as err:  # reset, timed out, IncompleteRead
                        raise _Broken(_one_line(err), got) from None
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
        except OSError as err:  # opening, writing or flushing the partial file: the disk
            raise _disk_error(part, err) from None
    if _size(part) < source.size:
        raise _Broken("the server closed the connection early", got)
    return offset


def _download_part(source: Source, part: Path, progress: bool, by_hand: str) -> int:
    """Bring ``part`` to (at least) the published size; returns the offset it was resumed from (0: from zero)."""
    start = _size(part)
    if start > source.size:
        _say(f"{part} is longer than {source.filename} ({start:,} > {source.size:,} bytes): downloading from the "
             "start")
        part.unlink()
        start = 0
    if start == source.size:
        _say(f"{part} has all {source.size:,} bytes: checking it")
    elif start:
        _say(f"resuming {part} at {start:,} of {source.size:,} bytes ({source.url})")
    else:
        _say(f"downloading {source.url} ({source.size:,} bytes) to {part}")
    resumptions = 0
    while _size(part) < source.size:
        try:
            if _transfer(source, part, progress) == 0:
                start = 0
        except _Broken as err:
            have = _size(part)
            if err.got and resumptions < RETRIES:
                resumptions += 1
                _say(f"the download broke at {have:,} of {source.size:,} bytes ({err.reason}): resuming in "
                     f"{RETRY_WAIT_S:g} s")
                time.sleep(RETRY_WAIT_S)
                continue
            if have == 0:
                raise DownloadError(f"cannot download {source.url} ({err.reason}); no network here? Then "
                                    f"{by_hand}") from None
            raise DownloadError(f"the download of {source.url} stopped at {have:,} of {source.size:,} bytes "
                                f"({err.reason}); run the same command again to resume it, or {by_hand}") from None
    return start


def fetch(source: Source, folder: str | os.PathLike, progress: bool = True, name: str = "NAME",
          root: str | os.PathLike | None = None) -> Path:
    """Download ``source`` into ``folder`` (via ``<filename>.part``, resumable) and check its size and MD5.

    Returns ``folder/<filename>``, which only ever holds the checked file. A file already there that
    checks is used as it is. ``name`` and ``root`` only word the instructions of an error. A failure that
    leaves ``folder`` (and its parent) empty removes them.
    """
    folder = Path(folder)
    final, part = folder / source.filename, folder / f"{source.filename}.part"
    if final.exists():
        if _size(final) == source.size and md5sum(final) == source.md5:
            _say(f"{final}: already downloaded and checked")
            return final
        _say(f"{final} is not the published file (size or checksum differ): downloading it again")
        final.unlink()
    try:
        _fetch_part(source, folder, part, progress, _by_hand(source, name, root))
        os.replace(part, final)
    except OSError as err:
        raise _disk_error(final, err) from None
    except DownloadError:
        for empty in (folder, folder.parent):
            with contextlib.suppress(OSError):
                empty.rmdir()
        raise
    except KeyboardInterrupt:
        if part.exists():
            _say(f"interrupted: {_size(part):,} bytes are kept in {part}; run the same command again to resume")
        raise
    return final


def _fetch_part(source: Source, folder: Path, part: Path, progress: bool, by_hand: str) -> None:
    """Make ``part`` the published file, checked: resumed, or started over once when a resumed file fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free, need = shutil.disk_usage(folder).free, source.size - min(_size(part), source.size)
    except OSError as err:
        raise _disk_error(folder, err) from None
    if free < need:
        raise DownloadError(f"{folder} has {free / 1e6:,.1f} MB free, but the download needs {need / 1e6:,.1f} MB: "
                            "free some disk space, or choose another data root with --root or $INPAINT_DATA")
    started_over = False
    while True:
        resumed_from = _download_part(source, part, progress, by_hand)
        size, md5 = _size(part), md5sum(part)
        if size == source.size and md5 == source.md5:
            return
        part.unlink()
        if resumed_from and not started_over:
            _say("the resumed download fails its checksum (the partial file from before was damaged): "
                 "downloading from the start")
            started_over = True
            continue
        raise DownloadError(f"{source.url} gave a file that fails its checksum after a full download ({size:,} "
                            f"bytes, md5 {md5}; expected {source.size:,} bytes, md5 {source.md5}): it was damaged "
                            f"on the way or the server holds another file; run the command again, or {by_hand}")


def download_dataset(name: str, root: str | os.PathLike | None = None, url: str | None = None, force: bool = False,
                     progress: bool = True) -> dict[str, Path]:
    """Download data set ``name`` and convert it to ``<root>/<name>/<split>.npz``; returns the paths written.

    A data set whose every split is already there is left alone unless ``force``. ``url`` is another
    address of the same published file (a mirror: same size and MD5).
    """
    if name not in DOWNLOADABLE:
        raise ValueError(f"{name!r} cannot be downloaded; choose one of {', '.join(DOWNLOADABLE)}")
    paths = {split: dataset_path(name, split, root) for split in DATASETS[name].splits}
    if not force and all(p.exists() for p in paths.values()):
        _say(f"{name} is already in {data_root(root)} ({', '.join(paths)}); pass --force to download and convert "
             "it again")
        return paths
    if name == "cifar10":
        if url is not None:
            raise DownloadError("--url is for tinyimagenet32; cifar10 comes through torchvision's downloader")
        try:
            return convert_cifar10(None, root, download=True)
        except (OSError, RuntimeError) as err:  # no network (URLError), disk, torchvision's failed MD5 check
            root_option = f" --root {root}" if root is not None else ""
            raise DownloadError(f"cannot download CIFAR-10 ({_one_line(err)}); download {CIFAR10_BINARY_URL} by hand "
                                f"and run `python -m inpaint_lib.data{root_option} convert cifar10 "
                                "PATH/cifar-10-binary.tar.gz`") from None
    source = SOURCES[name] if url is None else dataclasses.replace(SOURCES[name], url=url)
    archive = fetch(source, download_folder(name, root), progress=progress, name=name, root=root)
    _say(f"converting {archive}")
    written = CONVERTERS[name](archive, root)
    _say(f"{archive} ({source.size / 1e6:,.1f} MB) is kept for a later conversion; delete it to free the space")
    return written
