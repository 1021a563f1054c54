"""Reading W&B's offline run files (``run-<id>.wandb``) back into plain data.

Offline runs are a LevelDB-style log of ``wandb_internal_pb2.Record`` protobufs behind a
7-byte W&B header. The wandb package ships the protobuf schema but no public reader, and the
tests and ``hpo`` need to check what was logged without a W&B server, so this reads them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

FILE_HEADER = 7  # b":W&B" + magic (2 bytes) + version (1 byte)
BLOCK = 32 * 1024
RECORD_HEADER = 7  # crc32c (4) + length (2, little-endian) + type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineArtifact:
    """An artifact an offline run logged: ``wandb sync`` uploads it from these records."""

    name: str
    type: str
    digest: str
    metadata: dict[str, Any]
    files: list[str]  # paths inside the artifact


@dataclass
class OfflineRun:
    """What one offline run logged."""

    run_id: str
    name: str
    group: str
    job_type: str
    project: str
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[OfflineArtifact] = field(default_factory=list)
    run_dir: Path | None = None

    def table(self, key: str) -> dict[str, Any]:
        """The last ``wandb.Table`` logged under ``key`` (``columns`` and ``data``), read from the
        ``*.table.json`` file W&B wrote into the run's ``files/`` folder."""
        for row in reversed(self.history):
            if row.get(f"{key}/_type") == "table-file" and self.run_dir is not None:
                return json.loads((self.run_dir / "files" / row[f"{key}/path"]).read_text())
        raise KeyError(f"no table logged as {key!r}")

    def media(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every media value (image, HTML, table) logged under keys starting with ``prefix``:
        key -> its fields (``_type``, ``path`` in ``files/``, ...), the last one logged."""
        out: dict[str, dict[str, Any]] = {}
        for row in self.history:
            for flat, value in row.items():
                key, _, field_name = flat.rpartition("/")
                if key.startswith(prefix) and field_name == "_type":
                    out[key] = {f.rpartition("/")[2]: v for f, v in row.items() if f.startswith(key + "/")}
                    out[key]["_type"] = value
        return out


def _payloads(data: bytes) -> list[bytes]:
    if data[:4] != b":W&B":
        raise ValueError("not a W&B run file (bad header)")
    out, pending, pos = [], b"", FILE_HEADER
    while pos + RECORD_HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < RECORD_HEADER:  # block trailer padding
            pos += left_in_block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        chunk = data[pos + RECORD_HEADER:pos + RECORD_HEADER + length]
        pos += RECORD_HEADER + length
        if kind == FULL:
            out.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            out.append(pending + chunk)
            pending = b""
        elif kind == 0 and length == 0:  # zero padding at the end of a block
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
    return out


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def _unnest(flat: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.get("value", v) if isinstance(v, dict) and set(v) <= {"value", "desc"} else v) for k, v in flat.items()}


def read_offline_run(run_dir: str | Path) -> OfflineRun:
    """Parse the ``.wandb`` file of an ``offline-run-*`` folder."""
    run_dir = Path(run_dir)
    files = list(run_dir.glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    run: OfflineRun | None = None
    config: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    artifacts: list[OfflineArtifact] = []
    for payload in _payloads(files[0].read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run = OfflineRun(r.run_id, r.display_name, r.run_group, r.job_type, r.project)
            config.update({_key(i): json.loads(i.value_json) for i in r.config.update})
        elif kind == "config":
            config.update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "artifact":
            a = record.artifact
            artifacts.append(OfflineArtifact(
                a.name, a.type, a.digest, json.loads(a.metadata) if a.metadata else {},
                [entry.path for entry in a.manifest.contents],
            ))
    if run is None:
        raise ValueError(f"{files[0]} holds no run record")
    run.config, run.history, run.summary = _unnest(config), history, summary
    run.artifacts, run.run_dir = artifacts, run_dir
    return run


def read_offline_runs(wandb_dir: str | Path) -> list[OfflineRun]:
    """Every offline run under a ``wandb/`` folder."""
    return [read_offline_run(d) for d in sorted(Path(wandb_dir).glob("offline-run-*"))]
