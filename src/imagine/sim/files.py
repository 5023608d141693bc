"""The Files API: uploads (multipart, field ``file``) that later requests name by ``file_id``."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from imagine.atomic import write_atomic


@dataclass(frozen=True)
class StoredFile:
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str

    def as_json(self) -> dict[str, Any]:
        return {"object": "file", **asdict(self)}


class FileStore:
    """Uploaded files in memory, or with a state folder as ``<id>.bin`` plus ``<id>.json``."""

    def __init__(self, folder: Path | None) -> None:
        self._lock = threading.Lock()
        self._folder = folder
        self._meta: dict[str, StoredFile] = {}
        self._data: dict[str, bytes] = {}
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            for path in folder.glob("*.json"):
                meta = StoredFile(**json.loads(path.read_text()))
                self._meta[meta.id] = meta

    def add(self, data: bytes, filename: str, purpose: str) -> StoredFile:
        meta = StoredFile(
            f"file-{secrets.token_hex(12)}", len(data), int(time.time()), filename, purpose
        )
        if self._folder is not None:
            write_atomic(self._folder / f"{meta.id}.bin", data)
            write_atomic(self._folder / f"{meta.id}.json", json.dumps(asdict(meta)).encode())
        with self._lock:
            self._meta[meta.id] = meta
            if self._folder is None:
                self._data[meta.id] = data
        return meta

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._meta.get(file_id)

    def content(self, file_id: str) -> bytes | None:
        with self._lock:
            if file_id not in self._meta:
                return None
            if self._folder is None:
                return self._data[file_id]
        return (self._folder / f"{file_id}.bin").read_bytes()

    def delete(self, file_id: str) -> bool:
        with self._lock:
            found = self._meta.pop(file_id, None) is not None
            self._data.pop(file_id, None)
        if found and self._folder is not None:
            for suffix in (".bin", ".json"):
                (self._folder / f"{file_id}{suffix}").unlink(missing_ok=True)
        return found


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    purpose: str


def parse_upload(content_type: str, body: bytes) -> Upload | None:
    """The ``file`` part (and ``purpose`` field) of a multipart/form-data body, or None if absent."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return None
    upload, purpose = None, ""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name == "file" and isinstance(payload, bytes):
            upload = Upload(payload, part.get_filename() or "upload", "")
        elif name == "purpose" and isinstance(payload, bytes):
            purpose = payload.decode("utf-8", "replace").strip()
    if upload is None:
        return None
    return Upload(upload.data, upload.filename, purpose)
