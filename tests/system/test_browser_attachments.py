"""Files in messages, in real headless Chromium (Playwright, sync API) against the running roles:
attaching by the button, by dropping and by pasting, the upload's progress bar, images shown as
thumbnails that open full size, other files as chips with their name and size, and the other
member seeing them live. Auto-waiting `expect`, never sleeps."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Route, expect

from tests.system import test_browser
from tests.system.test_browser import WAIT_MS, Person, pages_stayed_healthy

browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]

UPLOADS = re.compile(r".*/api/rooms/[^/]+/attachments/$")


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    image = Image.new("RGB", (width, height), (40, 120, 200))
    for x in range(0, width, 16):  # not one flat colour: a real picture compresses less
        for y in range(height):
            image.putpixel((x, y), (255, (x * 7) % 256, y % 256))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def talking(person) -> tuple[Person, Person]:
    """Alice and Bob in a direct conversation that both have open."""
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("sending you something")
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    bob.shows_delivered(["sending you something"], [alice.username])
    return alice, bob


def thumbnail(someone: Person, name: str):
    return someone.page.locator("#messages .message .attachments a.att-image").filter(
        has=someone.page.locator(f"img[alt='{name}']")
    )


def image_loaded(someone: Person, name: str) -> None:
    someone.page.wait_for_function(
        "name => [...document.querySelectorAll('#messages .att-image img')]"
        ".some((img) => img.alt === name && img.complete && img.naturalWidth > 0)",
        arg=name,
        timeout=WAIT_MS,
    )


def test_an_image_uploads_with_a_progress_bar_and_the_other_member_sees_and_opens_it(person, tmp_path: Path):
    alice, bob = talking(person)
    photo = tmp_path / "holiday.png"
    photo.write_bytes(png_bytes(640, 480))

    # The upload is held back until the bar has been seen: it is there however fast the server is.
    held: list[Route] = []
    alice.page.route(UPLOADS, lambda route: held.append(route))
    alice.page.locator("#attach-input").set_input_files(str(photo))
    bar = alice.page.get_by_role("progressbar", name="Uploading holiday.png")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))
    expect(alice.page.get_by_role("button", name="Cancel the upload of holiday.png")).to_be_visible()
    # Send waits for the upload.
    expect(alice.page.locator("#send-button")).to_be_disabled()
    assert len(held) == 1 and held[0].request.method == "POST"
    held[0].continue_()
    expect(bar).to_have_count(0, timeout=WAIT_MS)
    chip = alice.page.locator("#pending-files .pending-file")
    expect(chip).to_have_count(1)
    expect(chip.locator(".att-name")).to_have_text("holiday.png")
    expect(alice.page.get_by_role("button", name="Remove holiday.png")).to_be_visible()
    expect(alice.page.locator("#send-button")).to_be_enabled()

    # A message of the file alone: no text needed.
    alice.page.locator("#send-button").click()
    expect(chip).to_have_count(0)
    for someone in (alice, bob):
        expect(thumbnail(someone, "holiday.png")).to_have_count(1, timeout=WAIT_MS)
        image = thumbnail(someone, "holiday.png").locator("img")
        # Its size is known before it loads (nothing jumps), scaled into the thumbnail box.
        expect(image).to_have_attribute("width", "240")
        expect(image).to_have_attribute("height", "180")
        image_loaded(someone, "holiday.png")
    expect(alice.page.locator("#messages .message.pending")).to_have_count(0, timeout=WAIT_MS)
    # A message of files alone is named by its file in the room list.
    expect(bob.room_item(alice.username).locator(".room-preview")).to_have_text("File: holiday.png")

    # Bob opens it full size: a new tab with the image itself.
    link = thumbnail(bob, "holiday.png")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    href = link.get_attribute("href")
    assert href and href.startswith(bob.page.url.split("/rooms/")[0])
    with bob.context.expect_page() as opened:
        link.click()
    full = opened.value
    full.wait_for_load_state()
    full.close()
    answer = bob.page.request.get(href)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("image/")
    assert Image.open(io.BytesIO(answer.body())).size == (640, 480)
    pages_stayed_healthy(alice, bob)


def test_a_pdf_is_a_chip_with_its_name_and_size(person, tmp_path: Path):
    alice, bob = talking(person)
    report = tmp_path / "minutes.pdf"
    head = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
    tail = b"\n%%EOF\n"
    report.write_bytes(head + b"%" + b"x" * (2500 - len(head) - len(tail) - 1) + tail)
    assert report.stat().st_size == 2500

    alice.page.get_by_role("button", name="Attach files").focus()
    alice.page.locator("#attach-input").set_input_files(str(report))
    expect(alice.page.locator("#pending-files .pending-file .att-name")).to_have_text("minutes.pdf", timeout=WAIT_MS)
    expect(alice.page.locator("#send-button")).to_be_enabled(timeout=WAIT_MS)
    alice.send_with_enter("the minutes")

    for someone in (alice, bob):
        someone.shows_delivered(["sending you something", "the minutes"], [alice.username, alice.username])
        chip = someone.page.locator("#messages .message .attachments a.att-file")
        expect(chip).to_have_count(1)
        expect(chip.locator(".att-name")).to_have_text("minutes.pdf")
        expect(chip.locator(".att-size")).to_have_text("2.4 KB")
        expect(someone.page.locator("#messages .attachments img")).to_have_count(0)
    href = bob.page.locator("#messages .attachments a.att-file").get_attribute("href")
    answer = bob.page.request.get(href)
    assert answer.status == 200
    assert answer.body() == report.read_bytes()
    # The room list names the message by its text; the files ride along.
    expect(bob.room_item(alice.username).locator(".room-preview")).to_have_text("the minutes")
    alice.screenshot("browser-attachments-pdf")
    pages_stayed_healthy(alice, bob)


def test_files_can_be_dropped_on_the_conversation_or_pasted_into_the_box(person):
    alice, bob = talking(person)
    data = base64.b64encode(png_bytes(120, 90)).decode()
    make = """([data, name]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: "image/png" }));
        return transfer;
    }"""

    # Dragging files over the conversation shows where they can go; dropping attaches them.
    dropped = alice.page.evaluate_handle(make, [data, "dropped.png"])
    alice.page.dispatch_event("#messages", "dragenter", {"dataTransfer": dropped})
    expect(alice.page.locator("#drop-hint")).to_be_visible()
    alice.screenshot("browser-attachments-drop-hint")
    alice.page.dispatch_event("#messages", "dragover", {"dataTransfer": dropped})
    alice.page.dispatch_event("#messages", "drop", {"dataTransfer": dropped})
    expect(alice.page.locator("#drop-hint")).to_be_hidden()
    expect(alice.page.locator("#pending-files .att-name")).to_have_text(["dropped.png"])

    # A pasted image (a screenshot) is attached, not pasted as text.
    pasted = alice.page.evaluate_handle(make, [data, "pasted.png"])
    alice.page.locator("#composer-input").evaluate(
        "(input, transfer) => input.dispatchEvent("
        "new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }))",
        pasted,
    )
    expect(alice.page.locator("#pending-files .att-name")).to_have_text(["dropped.png", "pasted.png"])
    expect(alice.page.locator("#composer-input")).to_have_value("")
    expect(alice.page.get_by_role("progressbar")).to_have_count(0, timeout=WAIT_MS)
    alice.send_with_enter("two at once")

    for someone in (alice, bob):
        expect(thumbnail(someone, "dropped.png")).to_have_count(1, timeout=WAIT_MS)
        expect(thumbnail(someone, "pasted.png")).to_have_count(1)
        # Smaller than the thumbnail box: shown at its own size.
        expect(thumbnail(someone, "pasted.png").locator("img")).to_have_attribute("width", "120")
    bob.screenshot("browser-attachments-bob")
    pages_stayed_healthy(alice, bob)


def test_a_cancelled_upload_and_a_file_too_large_send_nothing(person, tmp_path: Path):
    alice, bob = talking(person)
    photo = tmp_path / "cancel-me.png"
    photo.write_bytes(png_bytes(64, 64))
    held: list[Route] = []
    alice.page.route(UPLOADS, lambda route: held.append(route))
    alice.page.locator("#attach-input").set_input_files(str(photo))
    expect(alice.page.get_by_role("progressbar", name="Uploading cancel-me.png")).to_be_visible()
    alice.page.get_by_role("button", name="Cancel the upload of cancel-me.png").click()
    expect(alice.page.get_by_role("progressbar")).to_have_count(0)
    expect(alice.page.locator("#pending-files .pending-file")).to_have_count(0)
    expect(alice.page.locator("#send-button")).to_be_enabled()
    expect(alice.page.locator("#composer-input")).to_be_focused()
    alice.page.unroute(UPLOADS)

    # Over the limit: told in words, and never uploaded.
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as out:
        out.truncate(25 * 1024 * 1024 + 1)
    alice.page.locator("#attach-input").set_input_files(str(huge))
    expect(alice.page.locator("#attach-error")).to_have_text("huge.bin: That file is larger than 25 MB.")
    expect(alice.page.locator("#pending-files .pending-file")).to_have_count(0)
    assert len(held) == 1

    alice.send_with_enter("nothing attached")
    for someone in (alice, bob):
        someone.shows_delivered(["sending you something", "nothing attached"], [alice.username, alice.username])
        expect(someone.page.locator("#messages .attachments")).to_have_count(0)
    pages_stayed_healthy(alice, bob)
