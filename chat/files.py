"""Checks of uploaded files, with no store involved: safe names, the type sniffed from the bytes,
images (verified, bounded in pixels, measured after their EXIF orientation) and thumbnails.

The client's name and Content-Type decide nothing but whether the file *claims* to be an image:
a file that claims one and is not is refused. Everything else is decided from the bytes.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import filetype
from django.core.files.uploadhandler import FileUploadHandler
from PIL import Image, ImageOps, UnidentifiedImageError

from chat.errors import ChatError

# The image types that are checked with Pillow, get a thumbnail and are shown inline: the
# formats every browser renders as pictures and nothing else (SVG, which runs scripts, is not).
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
# A name ending like this, or a declared type of image/* (but SVG), claims a picture. An SVG is a
# document (it may hold scripts): it is taken as a file like any other, and never shown inline.
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
SVG = "image/svg+xml"
TEXT = "text/plain"
BINARY = "application/octet-stream"
SNIFF_BYTES = 8192
MAX_FILENAME_CHARS = 200
_CONTENT_TYPE = re.compile(r"\A[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*\Z")


class FileTooLarge(ChatError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__("too_large", f"A file holds at most {max_bytes} bytes.", status=413)


class FileRefused(ChatError):
    def __init__(self, detail: str) -> None:
        super().__init__("invalid", detail, status=400)


class LimitedUploadHandler(FileUploadHandler):
    """Goes first among the upload handlers and stops the upload once a file passes the limit,
    so that a body without a Content-Length (chunked) is not read and kept to its end."""

    def __init__(self, request: object = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0

    def new_file(self, *args: object, **kwargs: object) -> None:
        self.received = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            raise FileTooLarge(self.max_bytes)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file


def safe_filename(name: str) -> str:
    """The name to keep and show: its last path part (no directory, `..` or drive), without
    control or format characters, not hidden, at most MAX_FILENAME_CHARS; `file` when nothing is left."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] not in ("C", "Z") or char == " ")
    name = name.strip(" .")
    if len(name) > MAX_FILENAME_CHARS:
        stem, ext = posixpath.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: MAX_FILENAME_CHARS - len(ext)].rstrip(" .") + ext
    return name or "file"


def sniff(head: bytes) -> str:
    """The content type that the file's first bytes show: a known signature, else plain text when
    they are UTF-8 without NULs, else opaque bytes. HTML and SVG are text here, never markup."""
    kind = filetype.guess(head) if head else None
    if kind is not None and _CONTENT_TYPE.match(kind.mime):
        return kind.mime
    if b"\x00" not in head:
        # The head may end inside a character: drop up to three bytes of it.
        for cut in range(4):
            try:
                head[: len(head) - cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            return TEXT
    return BINARY


def claims_image(*, filename: str, declared_type: str) -> bool:
    extension = posixpath.splitext(filename.lower())[1]
    declared = declared_type.split(";", 1)[0].strip().lower()
    return extension in IMAGE_EXTENSIONS or (declared.startswith("image/") and declared != SVG)


def is_inline_image(content_type: str) -> bool:
    return content_type in IMAGE_FORMATS


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    # As shown: after the EXIF orientation.
    width: int
    height: int
    thumbnail: bytes
    thumbnail_type: str


@dataclass(frozen=True, kw_only=True)
class Checked:
    filename: str
    content_type: str
    size: int
    sha256: str
    image: ImageInfo | None


def check(
    *, chunks: Iterable[bytes], file: io.IOBase, filename: str, declared_type: str, max_pixels: int, thumbnail_px: int
) -> Checked:
    """What the upload is, from its bytes (`chunks` reads them all once; `file` is read again for
    an image); FileRefused when it is empty, claims an image and is not, or is a decompression bomb."""
    digest, size, head = hashlib.sha256(), 0, b""
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
    if size == 0:
        raise FileRefused("The file is empty.")
    content_type = sniff(head)
    image = None
    if content_type in IMAGE_FORMATS:
        image = inspect_image(file, content_type=content_type, max_pixels=max_pixels, thumbnail_px=thumbnail_px)
    elif claims_image(filename=filename, declared_type=declared_type):
        raise FileRefused("The file claims to be an image but is not one this service accepts (PNG, JPEG, GIF, WebP).")
    return Checked(
        filename=safe_filename(filename), content_type=content_type, size=size, sha256=digest.hexdigest(), image=image
    )


def inspect_image(file: io.IOBase, *, content_type: str, max_pixels: int, thumbnail_px: int) -> ImageInfo:
    """Verifies the image, bounds its pixels and makes its thumbnail (oriented, without metadata)."""
    expected = IMAGE_FORMATS[content_type]
    try:
        with warnings.catch_warnings():
            # Pillow warns of a possible bomb below its hard limit; here any warning refuses.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            file.seek(0)
            with Image.open(file, formats=[expected]) as probe:
                width, height = probe.size
                if width * height > max_pixels:
                    raise FileRefused(f"The image has too many pixels ({width}x{height}; at most {max_pixels}).")
                probe.verify()
            file.seek(0)
            with Image.open(file, formats=[expected]) as image:
                image.load()
                oriented = ImageOps.exif_transpose(image)
                thumbnail, thumbnail_type = _thumbnail(oriented, source=expected, size=thumbnail_px)
                width, height = oriented.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FileRefused("The image has too many pixels (a decompression bomb).") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FileRefused("The file claims to be an image but cannot be read as one.") from exc
    finally:
        file.seek(0)
    return ImageInfo(width=width, height=height, thumbnail=thumbnail, thumbnail_type=thumbnail_type)


def _thumbnail(image: Image.Image, *, source: str, size: int) -> tuple[bytes, str]:
    thumb = image.copy()
    thumb.thumbnail((size, size))
    opaque = source == "JPEG"
    if opaque:
        thumb = thumb.convert("RGB")
    elif thumb.mode not in ("RGB", "RGBA", "L", "LA"):
        thumb = thumb.convert("RGBA")
    # Nothing of the original's metadata (EXIF, comments, ICC, text chunks) is kept.
    thumb.info = {}
    out = io.BytesIO()
    if opaque:
        thumb.save(out, "JPEG", quality=85, optimize=True)
        return out.getvalue(), "image/jpeg"
    thumb.save(out, "PNG", optimize=True)
    return out.getvalue(), "image/png"
