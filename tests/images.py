"""Files for the attachment tests, made here: images with Pillow, a minimal PDF, executables."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

# EXIF orientation 6: the camera was turned; shown rotated 90° clockwise.
ROTATE_90_CW = 6


def png(width: int = 40, height: int = 20, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_orientation(width: int = 60, height: int = 30, orientation: int = ROTATE_90_CW) -> bytes:
    """A JPEG stored `width`x`height` whose EXIF says to show it rotated; it carries a camera
    model too, which a thumbnail must not keep."""
    image = Image.new("RGB", (width, height), (20, 120, 220))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0110] = "SecretCam 3000"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def elf() -> bytes:
    """The start of a 64-bit Linux executable."""
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HHI", 2, 0x3E, 1) + b"\x00" * 40
    return header + b"\x90" * 512


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG header and a tiny compressed body that claims `width`x`height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    body = zlib.compress(row * 64, 9)  # far from all the rows: it never gets that far
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
