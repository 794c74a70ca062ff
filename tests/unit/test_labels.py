"""The printable parcel label (catalogue.labels), read back as a printer and a scanner would.

Each PDF is opened with pdfium (an independent PDF engine), its text layer is read, and the page
is rasterised at 250 dpi and handed to zxing-cpp to decode the QR code, so the tests check what
ends up on paper rather than how reportlab was called.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from time import struct_time
from uuid import UUID

import pypdfium2 as pdfium
import pytest
import reportlab.lib.utils
import zxingcpp
from PIL import Image

from catalogue.labels import ParcelLabel, render_label

A5_POINTS = (419.53, 595.28)
DPI = 250
PARCEL_ID = UUID("0f8e7d6c-5b4a-4392-8170-a1b2c3d4e5f6")
URL = f"https://data.esrf.example/api/v1/parcels/{PARCEL_ID}"
RECIPIENT = (
    "ESRF Sample Stores",
    "The European Synchrotron",
    "71 avenue des Martyrs",
    "CS 40220",
    "38043 Grenoble Cedex 9",
    "FR",
)
#: The longest address the domain accepts: name, organisation, four street lines, city, country.
SENDER = (
    "Dr. Ada Lovelace",
    "Institut de Biologie Structurale",
    "71 avenue des Martyrs",
    "CS 10090",
    "Bâtiment B",
    "Étage 3",
    "38044 Grenoble",
    "FR",
)
RETURN = ("Dr. Ada Lovelace", "IBS Cryo Lab", "38044 Grenoble", "FR")


def make_label(**changes: object) -> ParcelLabel:
    label = ParcelLabel(
        parcel_id=PARCEL_ID,
        parcel_name="Dewar-07",
        shipment_name="Spring run shipment",
        proposal="MX-2451",
        instrument="ID23-1",
        session_start=datetime(2025, 3, 4, 8, 0, tzinfo=UTC),
        sender=SENDER,
        recipient=RECIPIENT,
        return_address=RETURN,
        dangerous_goods=("2.2", "6.1"),
        storage_conditions=("liquid_nitrogen",),
        item_count=12,
        url=URL,
    )
    return dataclasses.replace(label, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Printed:
    """One rendered label as pdfium sees it."""

    page_size: tuple[float, float]
    page_count: int
    lines: tuple[str, ...]
    #: (character, left, bottom, right, top) in points, whitespace left out.
    glyphs: tuple[tuple[str, float, float, float, float], ...]
    image: Image.Image

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def read(pdf: bytes) -> Printed:
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        glyphs = []
        for index in range(textpage.count_chars()):
            # One at a time: the whole-page text may hold generated line breaks, so its
            # indices need not match the character array's.
            char = textpage.get_text_range(index, 1)
            if char.strip():
                glyphs.append((char, *textpage.get_charbox(index)))
        image = page.render(scale=DPI / 72).to_pil()
        return Printed(
            page_size=page.get_size(),
            page_count=len(document),
            lines=tuple(line.strip() for line in text.splitlines() if line.strip()),
            glyphs=tuple(glyphs),
            image=image,
        )
    finally:
        document.close()


def decoded(printed: Printed) -> list[str]:
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(printed.image)
        if barcode.format == zxingcpp.BarcodeFormat.QRCode
    ]


@pytest.fixture(scope="module")
def printed() -> Printed:
    return read(render_label(make_label()))


def test_the_label_is_one_a5_portrait_page(printed: Printed) -> None:
    assert printed.page_count == 1
    width, height = printed.page_size
    assert width == pytest.approx(A5_POINTS[0], abs=1)
    assert height == pytest.approx(A5_POINTS[1], abs=1)


def test_the_label_shows_both_addresses_line_by_line(printed: Printed) -> None:
    for line in (*RECIPIENT, *SENDER):
        assert line in printed.lines, line
    # The recipient comes first: it is what the courier reads.
    assert printed.lines.index(RECIPIENT[0]) < printed.lines.index(SENDER[0])


def test_the_label_shows_the_investigation_and_the_parcel(printed: Printed) -> None:
    assert "MX-2451" in printed.lines
    assert "Beamline: ID23-1" in printed.lines
    assert "Session: 2025-03-04 08:00 UTC" in printed.lines
    assert "Parcel: Dewar-07" in printed.lines
    assert "Shipment: Spring run shipment" in printed.lines
    assert "Contents: 12 items" in printed.lines
    assert str(PARCEL_ID) in printed.lines


def test_declared_dangerous_goods_are_listed_in_a_warning(printed: Printed) -> None:
    assert "DANGEROUS GOODS" in printed.lines
    assert "UN hazard class 2.2, 6.1" in printed.lines
    assert "toxic substances" in printed.text
    assert "No dangerous goods" not in printed.text


def test_a_parcel_without_dangerous_goods_says_so() -> None:
    printed = read(render_label(make_label(dangerous_goods=())))
    assert "No dangerous goods declared" in printed.lines
    assert "DANGEROUS GOODS" not in printed.text
    assert "UN hazard class" not in printed.text


def test_storage_conditions_are_printed_in_words(printed: Printed) -> None:
    assert "Storage: liquid nitrogen" in printed.lines
    several = read(render_label(make_label(storage_conditions=("frozen", "dark", "new_code"))))
    assert "Storage: frozen (-20 °C), keep dark, new code" in several.lines
    none = read(render_label(make_label(storage_conditions=())))
    assert "Storage: no special conditions" in none.lines


def test_the_return_address_is_printed_when_there_is_one(printed: Printed) -> None:
    for line in RETURN:
        assert line in printed.text
    assert "destroy" not in printed.text


def test_without_a_return_address_the_label_says_to_destroy_the_parcel() -> None:
    printed = read(render_label(make_label(return_address=())))
    assert "destroy after the experiment" in printed.text
    assert "IBS Cryo Lab" not in printed.text


def test_an_unscheduled_parcel_says_so() -> None:
    printed = read(render_label(make_label(instrument=None, session_start=None, item_count=1)))
    assert "Beamline: not scheduled" in printed.lines
    assert "Session: not scheduled" in printed.lines
    assert "Contents: 1 item" in printed.lines


def test_the_session_is_printed_in_utc_whatever_zone_it_comes_in() -> None:
    paris = timezone(timedelta(hours=1))
    start = datetime(2025, 3, 4, 9, 30, tzinfo=paris)
    printed = read(render_label(make_label(session_start=start)))
    assert "Session: 2025-03-04 08:30 UTC" in printed.lines


def test_a_naive_session_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render_label(make_label(session_start=datetime(2025, 3, 4, 8, 0)))


def test_the_qr_code_decodes_to_exactly_the_parcel_url(printed: Printed) -> None:
    assert decoded(printed) == [URL]


def test_the_qr_code_is_at_least_35_mm_wide_on_paper(printed: Printed) -> None:
    (barcode,) = zxingcpp.read_barcodes(printed.image)
    corners = barcode.position
    xs = [corners.top_left.x, corners.top_right.x, corners.bottom_left.x, corners.bottom_right.x]
    ys = [corners.top_left.y, corners.top_right.y, corners.bottom_left.y, corners.bottom_right.y]
    # zxing reports the symbol itself, without the quiet zone around it.
    assert (max(xs) - min(xs)) / DPI * 25.4 >= 35
    assert (max(ys) - min(ys)) / DPI * 25.4 >= 35


@pytest.mark.parametrize(
    "url",
    [
        f"https://data.esrf.example/api/v1/parcels/{PARCEL_ID}?format=html&lang=fr#items",
        "https://catalogue.internal.example.org:8443/api/v1/investigations/"
        "7c9e6679-7425-40de-944b-e07fc1f90ae7/shipments/"
        "16fd2706-8baf-433b-82eb-8c7fada847da/parcels/"
        f"{PARCEL_ID}?via=label&token=a%2Fb%3Dc&x=1&y=2",
        "HTTPS://DATA.EXAMPLE/P/1234",  # upper case: reportlab picks the alphanumeric mode
        f"https://data.esrf.example/api/v1/parcels/{PARCEL_ID}?pad=" + "x" * 420,
    ],
    ids=["query-and-fragment", "long-uuid-path", "alphanumeric", "about-500-chars"],
)
def test_awkward_urls_decode_exactly(url: str) -> None:
    printed = read(render_label(make_label(url=url)))
    assert decoded(printed) == [url]


def test_characters_helvetica_cannot_show_become_question_marks() -> None:
    label = make_label(
        parcel_name="试样盒 1",
        sender=("Dr. 山田 太郎", "Łódź Ősz Straße", "€ 5 \uff26\uff55\uff4c\uff4c", *SENDER[3:]),
        recipient=("Stores\tdesk", *RECIPIENT[1:]),
    )
    printed = read(render_label(label))
    assert "Parcel: ??? 1" in printed.lines
    assert "Dr. ?? ??" in printed.lines
    # Latin-1/cp1252 letters stay; others without a cp1252 spelling do not.
    assert "?ód? ?sz Straße" in printed.lines
    # Full-width letters have a compatible ASCII spelling.
    assert "€ 5 Full" in printed.lines
    # A tab is drawn as a space, not as a missing-glyph box.
    assert "Stores desk" in printed.lines
    assert decoded(printed) == [URL]


def test_five_hundred_character_fields_are_shortened_and_stay_on_the_page() -> None:
    long = "Very long name " + "W" * 485
    cjk = "長" * 500
    label = make_label(
        parcel_name=long,
        shipment_name=cjk,
        proposal=long,
        instrument=long,
        sender=tuple(f"{index} {long}" for index in range(8)),
        recipient=tuple(f"{index} {long}" for index in range(8)),
        return_address=tuple(f"{index} {cjk}" for index in range(8)),
        dangerous_goods=(long, "2.2"),
        storage_conditions=(long,),
    )
    printed = read(render_label(label))

    assert decoded(printed) == [URL]
    shortened = [line for line in printed.lines if line.endswith("…")]
    assert len(shortened) >= 8 + 8 + 8 + 5
    assert all(len(line) < 100 for line in printed.lines)
    # All eight lines of every address block are there, in order.
    for index in range(8):
        assert sum(line.startswith(f"{index} Very long name") for line in printed.lines) == 2
        assert f"{index} ????" in printed.text
    width, height = printed.page_size
    for char, left, bottom, right, top in printed.glyphs:
        assert 0 <= left <= right <= width, char
        assert 0 <= bottom <= top <= height, char


def test_no_two_glyphs_overlap_even_when_every_field_is_too_long() -> None:
    long = "W" * 500
    label = make_label(
        parcel_name=long,
        shipment_name=long,
        proposal=long,
        instrument=long,
        sender=(long,) * 8,
        recipient=(long,) * 8,
        return_address=(long,) * 8,
        dangerous_goods=(long,),
        storage_conditions=(long,),
    )
    printed = read(render_label(label))
    # Glyph boxes are tight, so neighbours in a word touch at most; 0.2 pt absorbs rounding.
    slack = 0.2
    for first, second in itertools.combinations(printed.glyphs, 2):
        apart = (
            first[3] <= second[1] + slack
            or second[3] <= first[1] + slack
            or first[4] <= second[2] + slack
            or second[4] <= first[2] + slack
        )
        assert apart, (first, second)


class Clock:
    """Stands in for the `time` module inside reportlab, at a chosen instant."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def localtime(self, seconds: float | None = None) -> struct_time:
        return time.localtime(self.now if seconds is None else seconds)

    def gmtime(self, seconds: float | None = None) -> struct_time:
        return time.gmtime(self.now if seconds is None else seconds)


def test_the_same_label_gives_the_same_bytes_whenever_it_is_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # reportlab stamps the creation time into a PDF unless told not to (or told a fixed time
    # by the environment, which the service must not rely on).
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    printed = []
    for now in (1_700_000_000.0, 1_800_000_000.0):
        monkeypatch.setattr(reportlab.lib.utils, "time", Clock(now))
        printed.append(render_label(make_label()))
    assert printed[0] == printed[1]
    assert render_label(make_label()) != render_label(make_label(item_count=13))
