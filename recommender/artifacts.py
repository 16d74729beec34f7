"""Versioned model artifacts: a manifest plus numpy arrays, never pickled objects.

A directory holds `manifest.json` (kind, format version, parameters, checksums) and
`arrays.npz`, plus any extra files a model writes itself (e.g. torch tensors), whose
checksums the manifest also records. Writing goes to a temporary sibling that is renamed
into place, so a reader sees either the whole artifact or none of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"

Arrays = dict[str, npt.NDArray[Any]]


class ArtifactError(Exception):
    """An artifact is missing, damaged or of another kind or format; the message says which."""


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_artifact(
    directory: Path,
    kind: str,
    params: dict[str, Any],
    arrays: Arrays,
    files: Mapping[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write atomically to `directory` (which must not exist yet, or is replaced).

    `files` maps extra file names to writers called with the path to write; they land in
    the same atomic rename, and their checksums go into the manifest."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        arrays_path = staging / ARRAYS
        np.savez(arrays_path, **arrays)
        extra: dict[str, str] = {}
        for name, write in (files or {}).items():
            write(staging / name)
            extra[name] = _digest(staging / name)
        manifest: dict[str, Any] = {
            "kind": kind,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "params": params,
            "arrays": sorted(arrays),
            "sha256": _digest(arrays_path),
        }
        if extra:
            manifest["files"] = extra
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def read_artifact(
    directory: Path, kind: str, files: Sequence[str] = ()
) -> tuple[dict[str, Any], Arrays]:
    """The parameters and arrays of a `kind` artifact, or ArtifactError saying what is wrong.

    Each extra file named in `files` must exist and match the checksum the manifest
    recorded for it; the caller then reads it from `directory`."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    arrays_path = directory / ARRAYS
    if not manifest_path.is_file() or not arrays_path.is_file():
        raise ArtifactError(f"{directory}: no model artifact here (manifest or arrays missing)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{directory}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{directory}: unreadable manifest")
    if manifest.get("kind") != kind:
        raise ArtifactError(f"{directory}: holds a {manifest.get('kind')!r} model, not {kind!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{directory}: artifact format {manifest.get('format_version')!r} is not supported "
            f"(this version reads format {FORMAT_VERSION}); retrain the model"
        )
    if _digest(arrays_path) != manifest.get("sha256"):
        raise ArtifactError(f"{directory}: arrays are truncated or corrupt (checksum mismatch)")
    try:
        with np.load(arrays_path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(f"{directory}: arrays are unreadable ({exc})") from None
    missing = set(manifest.get("arrays", [])) - set(arrays)
    if missing:
        raise ArtifactError(f"{directory}: arrays missing: {', '.join(sorted(missing))}")
    recorded = manifest.get("files") or {}
    for name in files:
        path = directory / name
        if not path.is_file() or name not in recorded:
            raise ArtifactError(f"{directory}: {name} is missing from the artifact")
        if _digest(path) != recorded[name]:
            raise ArtifactError(f"{directory}: {name} is truncated or corrupt (checksum mismatch)")
    return dict(manifest.get("params", {})), arrays
