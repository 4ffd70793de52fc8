"""Evidence files (佐证材料) are judged by their bytes, never by their names.

``check_upload`` refuses a file whose content is not what its extension says (an ``.exe``
renamed ``.pdf``, text named ``.png``), and an image whose header asks for more pixels than a
page could ever show (a "pixel flood" PNG of a few kilobytes that decodes to gigabytes).
``preview`` makes a small PNG of an image for the page, or None for anything that cannot be
shown safely: a stored file, even one stored before these checks existed, never breaks a page.
"""
from __future__ import annotations

import io
import logging
import warnings
import zipfile
from dataclasses import dataclass

import filetype
from PIL import Image

from dashboard.errors import ValidationFailed

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo is larger than any camera phone's
MAX_IMAGE_SIDE = 20_000
PREVIEW_SIDE = 640
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # doc, xls and WPS files are OLE2 compound files

# What the bytes of each documented extension must be (MIME types as ``filetype`` names them).
IMAGE_MIME = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
              "webp": "image/webp"}
DOCUMENT_MIME = {
    "pdf": "application/pdf",
    "doc": "application/msword", "xls": "application/vnd.ms-excel", "wps": "application/vnd.ms-works",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ofd": "application/ofd", "txt": "text/plain",
}
DOCUMENTED = {**IMAGE_MIME, **DOCUMENT_MIME}


@dataclass(frozen=True)
class Checked:
    content_type: str
    is_image: bool


def _zip_names(data: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return []


def _is_text(data: bytes) -> bool:
    """Plain text: no type signature, decodes as UTF-8 or GB18030, and no binary control bytes."""
    if b"\x00" in data or filetype.guess(data) is not None:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f\v\x1a")
        return controls == 0
    return False


def _matches(extension: str, data: bytes) -> bool:
    guessed = filetype.guess_mime(data)
    if extension in IMAGE_MIME:
        return guessed == IMAGE_MIME[extension]
    if extension == "pdf":
        return guessed == "application/pdf"
    if extension in ("doc", "xls", "wps"):
        return data.startswith(OLE2)
    if extension in ("docx", "xlsx"):
        return guessed == DOCUMENT_MIME[extension]
    if extension == "ofd":  # GB/T 33190: a zip whose entry point is OFD.xml
        return data.startswith(b"PK") and "OFD.xml" in _zip_names(data)
    if extension == "txt":
        return _is_text(data)
    return False


TOO_LARGE = (MAX_IMAGE_SIDE + 1, MAX_IMAGE_SIDE + 1)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image header (nothing is decoded), or None if it is not an image.
    A header Pillow itself calls a decompression bomb counts as too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError:
        return TOO_LARGE
    except Exception:  # Pillow raises many kinds for a broken header
        return None


def _image_within_bounds(size: tuple[int, int]) -> bool:
    width, height = size
    return 0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE and width * height <= MAX_IMAGE_PIXELS


def check_upload(name: str, extension: str, data: bytes) -> Checked:
    """The content type read from the bytes; refuses a file whose bytes do not match its extension."""
    if extension not in DOCUMENTED or not _matches(extension, data):
        raise ValidationFailed("error.file_content", name=name, ext=extension)
    if extension in IMAGE_MIME:
        size = image_size(data)
        if size is None:
            raise ValidationFailed("error.file_content", name=name, ext=extension)
        if not _image_within_bounds(size):
            raise ValidationFailed("error.image_too_large", name=name, limit=MAX_IMAGE_SIDE,
                                   megapixels=MAX_IMAGE_PIXELS // 1_000_000)
    return Checked(DOCUMENTED[extension], extension in IMAGE_MIME)


def preview(data: bytes) -> bytes | None:
    """A PNG no larger than ``PREVIEW_SIDE`` for an image that can be shown safely, else None.

    The header is read first and the image decoded only when its size is bounded; any failure
    (a text file named .png, a truncated or hostile image) gives None, never an exception.
    """
    try:
        if filetype.guess_mime(data) not in set(IMAGE_MIME.values()):
            return None
        size = image_size(data)
        if size is None or not _image_within_bounds(size):
            log.warning("evidence preview refused: %s pixels", size)
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (PREVIEW_SIDE, PREVIEW_SIDE))  # JPEG: decode at a reduced scale
                image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
                shown = image if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGBA")
                out = io.BytesIO()
                shown.save(out, format="PNG")
                return out.getvalue()
    except Exception:  # noqa: BLE001 - a stored file must never break the page
        log.warning("evidence preview failed", exc_info=True)
        return None
