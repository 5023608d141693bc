"""Facts of the xAI video REST contract (docs/xai-api.md) used by both the client and the simulator.

The client validates against these before spending money; the simulator enforces them with the API's own
messages. Keep this module free of I/O.
"""

from __future__ import annotations

import re
from typing import Final

BASE_MODEL: Final = "grok-imagine-video"
MODEL_15: Final = "grok-imagine-video-1.5"
MODELS: Final = (BASE_MODEL, MODEL_15)
MODEL_ALIASES: Final = {
    "grok-imagine-video-1.5-preview": MODEL_15,
    "grok-imagine-video-1.5-2026-05-30": MODEL_15,
}

ASPECT_RATIOS: Final = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
RESOLUTIONS: Final = ("480p", "720p", "1080p")

MIN_DURATION: Final = 1
MAX_DURATION: Final = 15
DEFAULT_DURATION: Final = 8
MAX_REFERENCE_DURATION_BASE: Final = 10
MAX_REFERENCE_IMAGES: Final = 14
MAX_REFERENCE_AUDIOS: Final = 3
MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MAX_FILE_UPLOAD_BYTES: Final = 50 * 1000 * 1000
MAX_EDIT_INPUT_SECONDS: Final = 8.7
EXTENSION_INPUT_SECONDS: Final = (2.0, 15.0)
EXTENSION_DEFAULT_DURATION: Final = 6
MAX_KEYFRAMES: Final = 4
MAX_STORE_SECONDS: Final = 2_592_000  # 30 days: storage_options.expires_after
PUBLIC_URL_SECONDS: Final = (3600, 2_592_000)  # storage_options.public_url.expires_after

TICKS_PER_USD: Final = 10_000_000_000

ROUTE_GENERATIONS: Final = "/v1/videos/generations"
ROUTE_EDITS: Final = "/v1/videos/edits"
ROUTE_EXTENSIONS: Final = "/v1/videos/extensions"
ROUTE_VIDEO: Final = "/v1/videos/{request_id}"
ROUTE_MODELS: Final = "/v1/video-generation-models"
ROUTE_API_KEY: Final = "/v1/api-key"
ROUTE_FILES: Final = "/v1/files"

# Request ids look like UUIDs (any version): checked before one is stored or put in a URL path.
REQUEST_ID: Final = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and REQUEST_ID.fullmatch(value) is not None


# Output frame sizes by resolution and aspect ratio (width, height).
OUTPUT_SIZES: Final[dict[str, dict[str, tuple[int, int]]]] = {
    "480p": {
        "16:9": (848, 480),
        "9:16": (480, 848),
        "1:1": (480, 480),
        "4:3": (640, 480),
        "3:4": (480, 640),
        "3:2": (720, 480),
        "2:3": (480, 720),
    },
    "720p": {
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "1:1": (720, 720),
        "4:3": (960, 720),
        "3:4": (720, 960),
        "3:2": (1080, 720),
        "2:3": (720, 1080),
    },
    "1080p": {
        "16:9": (1920, 1080),
        "9:16": (1080, 1920),
        "1:1": (1080, 1080),
        "4:3": (1440, 1080),
        "3:4": (1080, 1440),
        "3:2": (1620, 1080),
        "2:3": (1080, 1620),
    },
}

# The API's own 400 messages, reproduced client-side and by the simulator.
MSG_TOO_MANY_REFERENCES: Final = "Too many reference images: {n}. Maximum allowed is 14."
MSG_TOO_MANY_AUDIOS: Final = "Too many reference audio clips: {n}. Maximum allowed is 3."
MSG_DURATION: Final = "Duration must be between 1 and 15 seconds"
MSG_REFERENCE_DURATION: Final = (
    "Duration {n}s exceeds the maximum allowed for reference-to-video, which is 10s."
)
MSG_REFERENCE_1080P: Final = (
    "1080p video resolution is not supported for reference-to-video requests."
)
MSG_1080P_TEAM: Final = "1080p video resolution is not available for your team."
MSG_AUDIOS_MODEL: Final = "`reference_audios` is not supported for this model."
MSG_EDIT_MODEL: Final = "Video editing is not supported for this model."
MSG_EXTENSION_MODEL: Final = "Video extension is not supported for this model."
MSG_MALFORMED_ID: Final = "Malformed request ID"
MSG_UNKNOWN_MODEL: Final = (
    "The model {model} does not exist or your team {team} does not have access to it."
)


def canonical_model(name: str) -> str | None:
    """The model id an alias stands for, or None when the name is not a known video model."""
    if name in MODELS:
        return name
    return MODEL_ALIASES.get(name)


def output_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    return OUTPUT_SIZES[resolution][aspect_ratio]


MSG_INCORRECT_API_KEY: Final = (
    "Incorrect API key provided: {redacted}. You can obtain an API key from https://console.x.ai."
)

# Messages the contract does not give; the simulator's own wording (unconfirmed against the live API).
MSG_PROMPT_REQUIRED: Final = "A prompt is required for {mode} requests."
MSG_IMAGE_WITH_REFERENCES: Final = (
    "`image` cannot be combined with `reference_images` for this model."
)
MSG_1080P_MODEL: Final = "1080p video resolution is not supported for this model."
MSG_EDIT_INPUT_TOO_LONG: Final = (
    "Input video is {seconds:g}s long. Video editing accepts inputs of at most 8.7s."
)
MSG_EXTENSION_INPUT: Final = (
    "Input video is {seconds:g}s long. Video extension accepts inputs between 2 and 15 seconds."
)

# Keyframes, last frame, voices and storage: the contract gives the rules but not the API's words for
# them, so these follow the wording of its messages above (unconfirmed against the live API).
MSG_KEYFRAMES_MODEL: Final = "`keyframes` is not supported for this model."
MSG_LAST_FRAME_MODEL: Final = "`last_frame` is not supported for this model."
MSG_TOO_MANY_KEYFRAMES: Final = "Too many keyframes: {n}. Maximum allowed is 4."
MSG_KEYFRAME_TIME: Final = (
    "Keyframe timestamp {t:g}s is outside the video: it must be greater than 0 and less than "
    "the duration ({duration}s)."
)
MSG_KEYFRAMES_MODE: Final = (
    "`keyframes` is only supported for text-to-video and image-to-video requests."
)
MSG_LAST_FRAME_MODE: Final = (
    "`last_frame` is only supported for text-to-video and image-to-video requests."
)
MSG_AUDIOS_MODE: Final = "`reference_audios` is only supported for reference-to-video requests."
MSG_STORE_EXPIRY: Final = (
    "`storage_options.expires_after` must be between 1 and 2592000 seconds, got {n}."
)
MSG_PUBLIC_URL_EXPIRY: Final = (
    "`storage_options.public_url.expires_after` must be between 3600 and 2592000 seconds, got {n}."
)
