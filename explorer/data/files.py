"""Where data files live and how they arrive: the download cache, checksums, a checked download."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from explorer.errors import DataError


def cache_dir() -> Path:
    """Where downloads go: $EXPLORER_DATA_DIR, else ~/.cache/skip-explorer/data."""
    env = os.environ.get("EXPLORER_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "skip-explorer" / "data"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, md5: str) -> Path:
    """Download `url` to `dest` (via a .part file) and check its md5; a bad file is removed."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                transient=True,
            ) as progress:
                task = progress.add_task(f"download {dest.name}", total=total)
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    progress.advance(task, len(chunk))
    except OSError as e:
        part.unlink(missing_ok=True)
        raise DataError(
            f"could not download {url} ({e}); download it by hand into {dest.parent} "
            "or pass --data-dir pointing at a folder that holds the files"
        ) from None
    got = md5_of(part)
    if got != md5:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {url} is corrupt: md5 {got}, expected {md5}; try again")
    part.replace(dest)
    return dest
