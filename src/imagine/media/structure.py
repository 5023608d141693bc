"""Structural checks that need no decoder: image magic bytes and headers, MP4 box framing.

They catch what a lenient decoder lets through (FFmpeg happily decodes half a JPEG or half an MP4),
and they are all we have when PyAV is not installed.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from imagine.errors import MediaError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def sniff_image(data: bytes) -> str | None:
    """ "jpeg", "png" or "webp" from the first bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def image_dimensions(kind: str, data: bytes, name: str) -> tuple[int, int]:
    """(width, height) read from a structurally complete image, else MediaError."""
    reader = {"jpeg": _jpeg_size, "png": _png_size, "webp": _webp_size}[kind]
    try:
        size = reader(data)
    except (struct.error, IndexError):
        size = None
    if size is None or size[0] < 1 or size[1] < 1:
        raise MediaError(f"{name} is a damaged or truncated {kind.upper()} image.")
    return size


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    size, position = None, 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        length = struct.unpack_from(">H", data, position + 2)[0]
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, position + 5)
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data until the end-of-image marker
            complete = data.rfind(b"\xff\xd9") >= position + 2 + length
            return size if complete else None
        position += 2 + length
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    position, size = len(_PNG_SIGNATURE), None
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(body) != length or len(crc) != 4 or zlib.crc32(kind + body) != int.from_bytes(crc):
            return None
        if kind == b"IHDR":
            size = struct.unpack_from(">II", body)
        if kind == b"IEND":
            return size
        position += 12 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    riff_size = struct.unpack_from("<I", data, 4)[0]
    if riff_size + 8 > len(data):
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = struct.unpack_from("<I", data, 21)[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    return None


def mp4_box_problem(stream: BinaryIO) -> str | None:
    """Why an ISO-BMFF (MP4/MOV) file is cut short, or None (also for files of other kinds)."""
    end = stream.seek(0, 2)
    position = 0
    while position + 8 <= end:
        stream.seek(position)
        header = stream.read(16)
        size, kind = struct.unpack_from(">I4s", header)
        if position == 0 and kind != b"ftyp":
            break
        if size == 1 and len(header) == 16:
            size = struct.unpack_from(">Q", header, 8)[0]
        elif size == 0:  # the last box, running to the end of the file
            size = end - position
        if size < 8 or position + size > end:
            stream.seek(0)
            return f"the {kind.decode('latin-1')!r} box is cut short (truncated file?)"
        position += size
    stream.seek(0)
    return None
