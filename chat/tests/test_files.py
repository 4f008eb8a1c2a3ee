"""chat.files on its own: names, sniffing, images and thumbnails (no store involved)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from chat import files
from tests import images


def checked(data: bytes, *, name: str = "f", declared: str = "", max_pixels: int = 50_000_000) -> files.Checked:
    stream = io.BytesIO(data)
    return files.check(
        chunks=[data[i : i + 1000] for i in range(0, len(data), 1000)],
        file=stream,
        filename=name,
        declared_type=declared,
        max_pixels=max_pixels,
        thumbnail_px=320,
    )


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("a\x00b\x1b[31mc\u202etxt.exe", "ab[31mctxt.exe"),
        ("..", "file"),
        ("", "file"),
        (".bashrc", "bashrc"),
        ("report 2026.pdf", "report 2026.pdf"),
        ("x" * 300 + ".png", "x" * 196 + ".png"),
    ],
)
def test_filenames_are_made_safe(raw, safe):
    assert files.safe_filename(raw) == safe


def test_types_come_from_the_bytes_not_the_name():
    assert checked(images.png(), name="x.txt").content_type == "image/png"
    assert checked(images.pdf(), name="x.png.txt").content_type == "application/pdf"
    assert checked(b"<html><script>alert(1)</script></html>", name="x.html").content_type == "text/plain"
    assert checked(b'<svg xmlns="http://www.w3.org/2000/svg"/>', name="x.txt").content_type == "text/plain"
    assert checked(bytes(range(256)), name="x.bin").content_type == "application/octet-stream"


def test_a_png_is_measured_and_gets_a_png_thumbnail():
    result = checked(images.png(800, 400), name="p.png")
    assert (result.image.width, result.image.height) == (800, 400)
    assert result.image.thumbnail_type == "image/png"
    with Image.open(io.BytesIO(result.image.thumbnail)) as thumb:
        assert thumb.size == (320, 160)


def test_a_rotated_jpeg_is_measured_as_shown_and_its_thumbnail_has_no_exif():
    result = checked(images.jpeg_with_orientation(60, 30), name="photo.jpg")
    assert (result.image.width, result.image.height) == (30, 60)
    with Image.open(io.BytesIO(result.image.thumbnail)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (30, 60)
        assert not thumb.getexif()


@pytest.mark.parametrize("name", ["x.png", "x.jpg", "x.gif"])
def test_an_executable_that_claims_to_be_an_image_is_refused(name):
    with pytest.raises(files.FileRefused):
        checked(images.elf(), name=name)


def test_an_executable_claiming_an_image_type_is_refused():
    with pytest.raises(files.FileRefused):
        checked(images.elf(), name="x", declared="image/png")


def test_a_broken_image_is_refused():
    with pytest.raises(files.FileRefused):
        checked(images.png()[:60], name="x.png")


def test_a_decompression_bomb_is_refused():
    with pytest.raises(files.FileRefused, match="pixels"):
        checked(images.png_bomb(), name="bomb.png")


def test_the_pixel_limit_is_a_setting():
    with pytest.raises(files.FileRefused, match="pixels"):
        checked(images.png(100, 100), name="x.png", max_pixels=9_999)


def test_an_empty_file_is_refused():
    with pytest.raises(files.FileRefused, match="empty"):
        checked(b"", name="x.txt")


def test_the_upload_handler_stops_at_the_limit():
    handler = files.LimitedUploadHandler(None, max_bytes=10)
    assert handler.receive_data_chunk(b"x" * 10, 0) == b"x" * 10
    with pytest.raises(files.FileTooLarge) as refusal:
        handler.receive_data_chunk(b"x", 10)
    assert refusal.value.status == 413


def test_an_svg_is_taken_as_text_not_refused_as_a_false_image():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    result = checked(svg, name="logo.svg", declared="image/svg+xml")
    assert (result.content_type, result.image) == ("text/plain", None)
