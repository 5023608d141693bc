"""Time-sortable job ids (ULID: 48-bit milliseconds + 80 random bits, Crockford base32, lowercase)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
SHORT_LENGTH = 8  # the id's last characters, as `imagine list` and every hint print it


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, index = divmod(number, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(timestamp: float | None = None) -> str:
    millis = int((time.time() if timestamp is None else timestamp) * 1000)
    return _encode(millis, 10) + _encode(secrets.randbits(80), 16)


def short(job_id: str) -> str:
    return job_id[-SHORT_LENGTH:]
