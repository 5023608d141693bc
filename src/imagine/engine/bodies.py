"""The body actually sent: the recorded request with its inputs put back in.

The ledger keeps inputs by reference (path and sha256), never their bytes. At submit time each
local input is read again and checked against its hash; small ones go inline as data URLs, large
ones are uploaded through the Files API first (an upload costs nothing, so it may be repeated) and
the file id is recorded before the render is requested.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from imagine.api.client import XAIClient
from imagine.errors import UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job


class InputChanged(UsageError):
    """An input file is gone or differs from the one the job was recorded with."""


def _local_bytes(item: dict[str, Any]) -> bytes:
    path = Path(item["path"])
    try:
        data = path.read_bytes()
    except OSError:
        raise InputChanged(
            f"the input {path} is gone; the job cannot be sent as recorded "
            "(run the command again to record a new one)"
        ) from None
    if hashlib.sha256(data).hexdigest() != item.get("sha256"):
        raise InputChanged(
            f"the input {path} changed since the job was recorded "
            "(run the command again to render the new file)"
        )
    return data


async def _api_object(
    item: dict[str, Any], client: XAIClient, uploads: list[dict[str, Any]]
) -> dict[str, str]:
    if item["sent_as"] == "url":
        return {"url": item["url"]}
    if item["sent_as"] == "file_id":
        if not item.get("file_id"):
            data = _local_bytes(item)
            answer = await client.upload(Path(item["path"]).name, data, item["mime"])
            item["file_id"] = answer["id"]
            uploads.append(item)
        return {"file_id": item["file_id"]}
    data = _local_bytes(item)
    return {"url": f"data:{item['mime']};base64,{base64.b64encode(data).decode()}"}


def _stored_as(body: dict[str, Any], job: Job) -> None:
    """A render kept in the Files API is named as its local copy is (planned when recorded)."""
    options = body.get("storage_options")
    if isinstance(options, dict) and not options.get("filename") and job.output_path:
        body["storage_options"] = {"filename": Path(job.output_path).name, **options}


async def request_body(job: Job, client: XAIClient, ledger: Ledger) -> dict[str, Any]:
    """The exact body to POST for ``job``; uploads are recorded in the ledger as they happen."""
    body: dict[str, Any] = json.loads(job.request_json or "{}")
    _stored_as(body, job)
    inputs = job.inputs
    if not inputs:
        return body
    uploads: list[dict[str, Any]] = []
    references = []
    keyframes = []
    for item in inputs:
        obj = await _api_object(item, client, uploads)
        if item["role"] == "reference":
            references.append(obj)
        elif item["role"] == "keyframe":
            keyframes.append({"image": obj, "timestamp_s": item.get("at")})
        else:
            body[item["role"]] = obj
        if uploads:
            ledger.update(
                job.id,
                EventKind.UPLOADED,
                inputs_json=json.dumps(inputs),
                detail={"file_id": item.get("file_id")},
            )
            uploads.clear()
    if references:
        body["reference_images"] = references
    if keyframes:
        body["keyframes"] = keyframes
    return body
