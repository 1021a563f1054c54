"""Where Ray Tune keeps a sweep's trial results: the sweep folder, or ``sweep.storage_path``.

``sweep.storage_path`` may be any URI pyarrow opens (``s3://bucket/prefix?endpoint_override=...``,
``gs://...``, ``file:///shared/...``) or an absolute folder. Ray Tune writes the experiments and
checkpoints there, so the driver and workers on every node agree on one place. The sweep folder
(``sweep.output_dir``) stays local to the driver: it keeps ``config.yaml``, and after each run
the experiments are copied back into it, so the leaderboard, export, report and ensemble read
them as for a local sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from hpo.errors import ConfigError

KEY = "sweep.storage_path"


def open_storage(uri: str) -> tuple[Any, str]:
    """The pyarrow file system and path of ``uri``, checked by creating and listing its folder.

    Raises:
        ConfigError: an unknown scheme, a relative path, or storage that cannot be reached or written.
    """
    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
    except ValueError as exc:  # pyarrow's ArrowInvalid
        raise ConfigError(KEY, f"not a storage URI pyarrow understands ({exc}); use an absolute folder or "
                          "a URI such as s3://bucket/prefix, gs://bucket/prefix or file:///shared/folder", value=uri) from None
    try:
        filesystem.create_dir(path)
        filesystem.get_file_info(pafs.FileSelector(path))
    except OSError as exc:
        raise ConfigError(KEY, f"cannot reach or write the storage ({str(exc).splitlines()[0]})", value=uri) from None
    return filesystem, path


def run_storage(cfg: dict[str, Any], sweep_dir: Path) -> tuple[str, Any]:
    """``(storage_path, storage_filesystem)`` for ``tune.RunConfig`` and ``Tuner.restore``."""
    uri = cfg["sweep"]["storage_path"]
    if not uri:
        return str(sweep_dir), None
    filesystem, path = open_storage(uri)
    return path, filesystem


def mirror_experiments(cfg: dict[str, Any], sweep_dir: Path, prefix: str) -> list[str]:
    """Copy the experiments named ``prefix*`` from ``sweep.storage_path`` into the sweep folder.

    Returns their names (none without a storage path). ``hpo resume`` calls it first, since a
    driver killed mid-sweep never copied anything back.
    """
    uri = cfg["sweep"]["storage_path"]
    if not uri:
        return []
    filesystem, path = open_storage(uri)
    names = [info.base_name for info in filesystem.get_file_info(pafs.FileSelector(path))
             if info.type == pafs.FileType.Directory and info.base_name.startswith(prefix)]
    for name in names:
        target = sweep_dir / name
        target.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(f"{path.rstrip('/')}/{name}", str(target),
                        source_filesystem=filesystem, destination_filesystem=pafs.LocalFileSystem())
    return names
