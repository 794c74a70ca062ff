"""Attachments: a content-addressed file store, and the image checks and thumbnails.

Files are named by their SHA-256 under `<data_dir>/attachments/ab/cd/<hash>`: the same
picture attached twice is stored once, and a file is never changed once written. A write
goes to a temporary file that is renamed into place, so a reader never sees half a file.
The archive (a later issue) will move these to object storage behind the same interface.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from catalogue.errors import InvalidCommand, NotFound, TooLarge, UnsupportedMediaType

THUMBNAIL_SIZE = 256
#: Pillow's format names of what is served as PNG or JPEG: phones write JPEGs with a
#: multi-picture extension (gain maps, depth), which Pillow calls MPO.
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg"}


class AttachmentStore:
    """Immutable files named by their SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        """Where the file with this hash lives (it may not exist)."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store bytes and return their hash; storing the same bytes again is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            # Atomic on POSIX: a concurrent put of the same bytes renames identical content.
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        """A stored file's bytes."""
        try:
            return self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound("the attachment's file is missing from the store") from None


@dataclass(frozen=True, slots=True)
class Picture:
    """A checked image and its thumbnail."""

    content_type: str
    width: int
    height: int
    thumbnail: bytes


def check_picture(data: bytes, max_bytes: int, max_pixels: int) -> Picture:
    """A PNG or JPEG within the limits, with a thumbnail; anything else is refused (422)."""
    if not data:
        raise InvalidCommand("the attachment is empty", "body")
    if len(data) > max_bytes:
        raise TooLarge(f"the attachment is {len(data)} bytes; at most {max_bytes}", "body")
    try:
        with warnings.catch_warnings():
            # A decompression bomb is refused below by its pixel count, not merely warned of.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or "unknown"
                if kind not in _FORMATS:
                    raise UnsupportedMediaType(
                        f"unsupported image type {kind}: attach PNG or JPEG", "content_type"
                    )
                width, height = image.size
                if width * height > max_pixels:
                    raise InvalidCommand(
                        f"the image is {width} x {height} pixels; at most {max_pixels} in all",
                        "body",
                    )
                image.load()
                # Phones store pictures sideways with an EXIF orientation: show them upright.
                thumbnail = ImageOps.exif_transpose(image)
                width, height = thumbnail.size
    except InvalidCommand:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise UnsupportedMediaType(
            f"the attachment is not a readable PNG or JPEG image ({error.__class__.__name__})",
            "body",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidCommand(f"the image is damaged: {str(error)[:120]}", "body") from None
    thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    out = io.BytesIO()
    if _FORMATS[kind] == "image/jpeg":
        thumbnail.convert("RGB").save(out, "JPEG", quality=85)
    else:
        thumbnail.save(out, "PNG", optimize=True)
    return Picture(_FORMATS[kind], width, height, out.getvalue())
