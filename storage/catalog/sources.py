"""Turn a SOURCE (file, folder or http(s) URL; CSV, gzip or zip) into CSV text streams."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlparse

import aiohttp
from tqdm import tqdm

from storage.errors import CatalogImportError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
CATALOG_SUFFIXES = (".csv", ".gz", ".zip")
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_read=60)
# Decoding/decompression failures that mean "this file is damaged", not a bug of ours.
CORRUPT_ERRORS = (
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    gzip.BadGzipFile,
    UnicodeDecodeError,
    csv.Error,
)


def is_url(source: str) -> bool:
    return urlparse(source).scheme in {"http", "https"}


def expand_sources(sources: list[str]) -> list[str]:
    """Folders become the catalog files inside them; URLs and files pass through."""
    expanded: list[str] = []
    for source in sources:
        path = Path(source)
        if not is_url(source) and path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CATALOG_SUFFIXES
            )
            if not files:
                raise CatalogImportError(f"{source}: folder holds no .csv, .gz or .zip file")
            expanded.extend(str(p) for p in files)
        else:
            expanded.append(source)
    return expanded


def _file_name_from_url(url: str) -> str:
    name = Path(unquote(urlparse(url).path)).name
    return name or "download.csv"


async def download(url: str, folder: Path, *, progress: bool | None = None) -> Path:
    """Fetch `url` into `folder`, atomically: a failed download leaves no file behind."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    target = folder / _file_name_from_url(url)
    partial = target.with_name(target.name + ".part")
    try:
        async with (
            aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                raise CatalogImportError(f"{url}: the server answered HTTP {response.status}")
            total = response.content_length
            with (
                partial.open("wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc="download",
                    disable=None if progress is None else not progress,
                    leave=False,
                ) as bar,
            ):
                async for chunk in response.content.iter_chunked(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and partial.stat().st_size != total:
                raise CatalogImportError(f"{url}: the download was cut short")
    except aiohttp.ClientPayloadError:
        partial.unlink(missing_ok=True)
        raise CatalogImportError(f"{url}: the download was cut short") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = str(exc) or type(exc).__name__
        raise CatalogImportError(f"{url}: cannot download ({reason})") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


@contextmanager
def _text_streams(path: Path) -> Iterator[list[tuple[str, TextIO]]]:
    with path.open("rb") as raw:
        head = raw.read(8192)
    if not head:
        raise CatalogImportError(f"{path}: the file is empty")
    if head.startswith(GZIP_MAGIC):
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as stream:
            yield [(path.name, stream)]
    elif head.startswith(ZIP_MAGICS):
        with zipfile.ZipFile(path) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.lower().endswith(".csv")
                and not info.filename.startswith("__MACOSX/")
            ]
            if not members:
                raise CatalogImportError(f"{path}: the zip holds no .csv file")
            streams = [
                (
                    f"{path.name}:{info.filename}",
                    io.TextIOWrapper(archive.open(info), encoding="utf-8-sig", newline=""),
                )
                for info in members
            ]
            try:
                yield streams
            finally:
                for _, stream in streams:
                    stream.close()
    else:
        if b"\x00" in head:
            raise CatalogImportError(f"{path}: not a CSV, gzip or zip file")
        with path.open("r", encoding="utf-8-sig", newline="") as stream:
            yield [(path.name, stream)]


@contextmanager
def open_tables(path: Path) -> Iterator[list[tuple[str, Iterator[list[str]]]]]:
    """CSV row iterators (header first) for every table in `path`.

    Reading is lazy, so damage can surface mid-file: consume the rows inside the `with`,
    where it becomes a CatalogImportError naming the file.
    """
    if not path.exists():
        raise CatalogImportError(f"{path}: no such file")
    if not path.is_file():
        raise CatalogImportError(f"{path}: not a file")
    try:
        with _text_streams(path) as streams:
            yield [(name, csv.reader(stream)) for name, stream in streams]
    except CatalogImportError:
        raise
    except UnicodeDecodeError:
        raise CatalogImportError(f"{path}: not UTF-8 text (is it a CSV file?)") from None
    except CORRUPT_ERRORS as exc:
        raise CatalogImportError(f"{path}: the file is truncated or corrupt ({exc})") from None
    except PermissionError:
        raise CatalogImportError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CatalogImportError(f"{path}: cannot read ({exc.strerror or exc})") from None
