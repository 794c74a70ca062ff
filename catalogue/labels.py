"""Printable A5 parcel labels: addresses, investigation, hazards and a QR code to the parcel."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.lib.colors import black, white
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from catalogue.domain.tracking import HAZARD_CLASSES

# reportlab has no type hints: its sizes are annotated here so the arithmetic is checked.
PAGE_WIDTH: float = A5[0]
PAGE_HEIGHT: float = A5[1]
MARGIN: float = 8 * mm
#: Side of the QR code including its four-module quiet zone: 50 mm makes even the smallest
#: symbol (21 modules of 29) 36 mm wide, and keeps a module of a 500-character URL (version 17,
#: 93 modules) above 0.5 mm, which a phone reads at arm's length and a label printer prints.
QR_SIZE: float = 50 * mm
#: What a block prints at most: a checked address has at most eight lines (name,
#: organisation, four street lines, postcode and city, country).
MAX_ADDRESS_LINES = 8
ELLIPSIS = "\u2026"
REGULAR, BOLD, MONO = "Helvetica", "Helvetica-Bold", "Courier"
#: The wording of the domain's storage codes (catalogue.domain.tracking.Storage); a code not
#: listed is printed with its underscores as spaces.
STORAGE_WORDING = {
    "ambient": "ambient",
    "refrigerated": "refrigerated (+4 \u00b0C)",
    "frozen": "frozen (-20 \u00b0C)",
    "deep_frozen": "deep frozen (-80 \u00b0C)",
    "liquid_nitrogen": "liquid nitrogen",
    "dry_ice": "dry ice",
    "inert_atmosphere": "inert atmosphere",
    "dark": "keep dark",
}


@dataclass(frozen=True, slots=True)
class ParcelLabel:
    """What a parcel's label shows."""

    parcel_id: UUID
    parcel_name: str
    shipment_name: str
    #: e.g. "MX-2451" or "IN-1002"
    proposal: str
    #: The beamline of the session the parcel is scheduled for, e.g. "ID23-1".
    instrument: str | None
    #: Aware; printed in UTC.
    session_start: datetime | None
    #: Address lines: name, organisation, street..., "postcode city", country code.
    sender: tuple[str, ...]
    #: The facility stores' address lines.
    recipient: tuple[str, ...]
    #: Empty when the parcel is not coming back: the label then says to destroy it.
    return_address: tuple[str, ...]
    #: UN hazard classes, e.g. ("2.2", "6.1"); empty when none are declared.
    dangerous_goods: tuple[str, ...]
    #: Storage codes, e.g. ("liquid_nitrogen",).
    storage_conditions: tuple[str, ...]
    item_count: int
    #: What the QR code encodes: the parcel's page in the API.
    url: str


def render_label(label: ParcelLabel) -> bytes:
    """The label as a one-page PDF (A5 portrait)."""
    if label.session_start is not None and label.session_start.utcoffset() is None:
        # A naive time would be printed as whatever the caller's clock meant; refuse it.
        raise ValueError("session_start must be timezone-aware")
    buffer = io.BytesIO()
    # invariant=1 fixes the creation date and document id, so the same label gives the same
    # bytes (reprints can be compared, and tests can pin the output).
    canvas = Canvas(buffer, pagesize=A5, invariant=1, pageCompression=1)
    canvas.setTitle(_printable(f"Parcel {label.parcel_name} ({label.parcel_id})"))
    canvas.setSubject(_printable(f"{label.proposal} {label.shipment_name}"))
    _Layout(canvas, label).draw()
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


class _Layout:
    """Draws the blocks of one label top to bottom."""

    def __init__(self, canvas: Canvas, label: ParcelLabel) -> None:
        self.canvas = canvas
        self.label = label
        self.left = MARGIN
        self.width = PAGE_WIDTH - 2 * MARGIN

    def draw(self) -> None:
        """Every block, from the top margin down."""
        top = PAGE_HEIGHT - MARGIN
        top = self._to_block(top) - 3 * mm
        top = self._details_and_qr(top) - 3 * mm
        top = self._from_and_return(top) - 3 * mm
        top = self._dangerous_goods(top) - 3 * mm
        self._storage(top)

    def _to_block(self, top: float) -> float:
        lines = self.label.recipient[:MAX_ADDRESS_LINES]
        height = 150.0
        self._box(self.left, top - height, self.width, height, line_width=2.0)
        self._caption("TO", self.left + 6, top - 14, size=11)
        y = top - 32
        for index, line in enumerate(lines):
            font, size = (BOLD, 15.0) if index == 0 else (BOLD, 13.0)
            self._text(line, self.left + 18, y, font, size, self.width - 24)
            y -= size + 2.5
        return top - height

    def _details_and_qr(self, top: float) -> float:
        label = self.label
        height = QR_SIZE + 14
        qr_left = self.left + self.width - QR_SIZE
        self._qr(qr_left, top - QR_SIZE)
        self._text(
            "Scan: parcel page", qr_left, top - QR_SIZE - 9, REGULAR, 7, QR_SIZE, centre=True
        )

        width = self.width - QR_SIZE - 4 * mm
        x = self.left
        y = top - 14
        self._text(label.proposal, x, y, BOLD, 18, width)
        y -= 18
        beamline = label.instrument or "not scheduled"
        self._pair("Beamline", beamline, x, y, width, size=11, bold=True)
        y -= 15
        self._pair("Session", _session_text(label.session_start), x, y, width, size=11, bold=True)
        y -= 19
        self._pair("Parcel", label.parcel_name, x, y, width, size=10)
        y -= 13
        self._pair("Shipment", label.shipment_name, x, y, width, size=10)
        y -= 13
        items = f"{label.item_count} item" + ("" if label.item_count == 1 else "s")
        self._pair("Contents", items, x, y, width, size=10)
        y -= 19
        self._caption("PARCEL ID", x, y, size=7)
        y -= 11
        self._text(str(label.parcel_id), x, y, MONO, 9, width)
        return top - height

    def _from_and_return(self, top: float) -> float:
        height = 112.0
        gap = 3 * mm
        half = (self.width - gap) / 2
        self._address_box("FROM", self.label.sender, self.left, top, half, height)
        right = self.left + half + gap
        if self.label.return_address:
            self._address_box(
                "RETURN AFTER THE EXPERIMENT TO",
                self.label.return_address,
                right,
                top,
                half,
                height,
            )
        else:
            self._box(right, top - height, half, height, line_width=0.8)
            self._caption("AFTER THE EXPERIMENT", right + 6, top - 12, size=8)
            self._text("No return address:", right + 6, top - 34, BOLD, 11, half - 12)
            self._text("destroy after the experiment.", right + 6, top - 48, BOLD, 11, half - 12)
        return top - height

    def _dangerous_goods(self, top: float) -> float:
        classes = [_printable(c.strip()) for c in self.label.dangerous_goods if c.strip()]
        if not classes:
            height = 24.0
            self._box(self.left, top - height, self.width, height, line_width=0.8)
            self._text(
                "No dangerous goods declared", self.left + 8, top - 16, BOLD, 11, self.width - 16
            )
            return top - height
        # A black band and a heavy frame: the stores must see this from across the room.
        height = 58.0
        band = 18.0
        canvas = self.canvas
        canvas.saveState()
        canvas.setFillColor(black)
        canvas.rect(self.left, top - band, self.width, band, stroke=0, fill=1)
        canvas.setFillColor(white)
        self._text("DANGEROUS GOODS", self.left + 8, top - 13, BOLD, 12, self.width - 16)
        canvas.restoreState()
        self._box(self.left, top - height, self.width, height, line_width=3.0)
        self._text(
            "UN hazard class " + ", ".join(classes),
            self.left + 8,
            top - 35,
            BOLD,
            13,
            self.width - 16,
        )
        meanings = "; ".join(f"{c} {HAZARD_CLASSES[c]}" for c in classes if c in HAZARD_CLASSES)
        self._text(meanings, self.left + 8, top - 50, REGULAR, 8, self.width - 16)
        return top - height

    def _storage(self, top: float) -> None:
        conditions = [
            STORAGE_WORDING.get(code, code.replace("_", " "))
            for code in self.label.storage_conditions
        ]
        wording = ", ".join(conditions) if conditions else "no special conditions"
        self._pair("Storage", wording, self.left, top - 12, self.width, size=11, bold=True)

    def _address_box(
        self, title: str, lines: Sequence[str], x: float, top: float, width: float, height: float
    ) -> None:
        self._box(x, top - height, width, height, line_width=0.8)
        self._caption(title, x + 6, top - 12, size=8)
        y = top - 26
        for index, line in enumerate(lines[:MAX_ADDRESS_LINES]):
            self._text(line, x + 6, y, BOLD if index == 0 else REGULAR, 9, width - 12)
            y -= 10.5

    def _qr(self, x: float, y: float) -> None:
        widget = QrCodeWidget(self.label.url, barLevel="M", barWidth=QR_SIZE, barHeight=QR_SIZE)
        # The widget's modules are separate rectangles; filled one by one, a rasteriser
        # anti-aliases every shared edge into a faint white seam. One path filled once has none.
        path = self.canvas.beginPath()
        for shape in widget.draw().contents:
            if shape.fillColor is not None:
                path.rect(x + shape.x, y + shape.y, shape.width, shape.height)
        self.canvas.saveState()
        self.canvas.setFillColor(black)
        self.canvas.drawPath(path, stroke=0, fill=1)
        self.canvas.restoreState()

    def _pair(
        self,
        name: str,
        value: str,
        x: float,
        y: float,
        width: float,
        *,
        size: float,
        bold: bool = False,
    ) -> None:
        caption = f"{name}: "
        offset = stringWidth(caption, REGULAR, size)
        self._text(caption, x, y, REGULAR, size, width)
        self._text(value, x + offset, y, BOLD if bold else REGULAR, size, width - offset)

    def _caption(self, text: str, x: float, y: float, *, size: float) -> None:
        self._text(text, x, y, BOLD, size, self.width)

    def _box(self, x: float, y: float, width: float, height: float, *, line_width: float) -> None:
        self.canvas.saveState()
        self.canvas.setLineWidth(line_width)
        self.canvas.rect(x, y, width, height, stroke=1, fill=0)
        self.canvas.restoreState()

    def _text(
        self,
        text: str,
        x: float,
        y: float,
        font: str,
        size: float,
        width: float,
        *,
        centre: bool = False,
    ) -> None:
        line = _fit(_printable(text), font, size, width)
        self.canvas.setFont(font, size)
        if centre:
            self.canvas.drawCentredString(x + width / 2, y, line)
        else:
            self.canvas.drawString(x, y, line)


def _session_text(start: datetime | None) -> str:
    if start is None:
        return "not scheduled"
    return start.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _printable(text: str) -> str:
    """The text with every character the built-in fonts cannot show replaced by "?"."""
    # The label uses the PDF base-14 fonts (Helvetica, Courier): no font file is shipped with
    # the service, and those fonts only have glyphs for Latin-1/cp1252. reportlab draws a
    # black box for anything else, which reads as a printing fault and puts junk in the text
    # layer; a "?" says plainly that a character is missing. A character that has a
    # compatible spelling in cp1252 (full-width letters, ligatures) keeps that spelling.
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        if unicodedata.category(char) == "Cc":
            # Tabs and line breaks would be drawn as boxes on a one-line field.
            out.append(" ")
        elif _encodable(char):
            out.append(char)
        else:
            compatible = unicodedata.normalize("NFKC", char)
            out.append(compatible if compatible.isprintable() and _encodable(compatible) else "?")
    return "".join(out)


def _encodable(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _fit(text: str, font: str, size: float, width: float) -> str:
    """The text, shortened with an ellipsis if it would run wider than the width."""
    if stringWidth(text, font, size) <= width:
        return text
    # Binary search on the prefix length: a 500-character line takes nine measurements.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if stringWidth(text[:middle].rstrip() + ELLIPSIS, font, size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS
