"""Small files that declare huge content: the review's image and spreadsheet bombs, built without ever
holding the content they declare (so the test process itself stays small)."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int, pixel: bytes = b"\x00\x00\x00") -> bytes:
    """A valid, fully decodable RGB PNG of width x height pixels of one colour, compressed row by row.

    6300 x 6300 is about 115 KB on disk and 119 MB of pixels (the review's PUT /me/face bomb).
    """
    z = zlib.compressobj(9)
    row = b"\x00" + pixel * width  # filter type 0, then the pixels
    parts = [z.compress(row) for _ in range(height)]
    idat = b"".join(parts) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height and whose pixel data is empty: only the header is valid."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def _cell(ref: str, value) -> str:
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def _row(number: int, values) -> str:
    cols = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return f'<row r="{number}">' + "".join(_cell(f"{cols[i]}{number}", v) for i, v in enumerate(values)) + "</row>"


def xlsx(rows: dict[int, list], dimension: str | None = None, sheet: str = "Sheet1", sheet_xml: bytes | None = None,
         compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A minimal xlsx whose one worksheet holds `rows` ({sheet row number: values}) and the given dimension."""
    if sheet_xml is None:
        dim = f'<dimension ref="{dimension}"/>' if dimension else ""
        body = "".join(_row(n, values) for n, values in sorted(rows.items()))
        sheet_xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                     '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                     f'{dim}<sheetData>{body}</sheetData></worksheet>').encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK.format(sheet=sheet))
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return buf.getvalue()


def xlsx_declaring_rows(header: list, last_row: int = 20_000_000, with_dimension: bool = True,
                        sheet: str = "Sheet1") -> bytes:
    """The review's 1.6 KB workbook: a header row and one cell on row `last_row` (declared in <dimension>)."""
    values = ["x"] + [None] * (len(header) - 1)
    dim = f"A1:{chr(64 + len(header))}{last_row}" if with_dimension else None
    return xlsx({1: header, last_row: [v for v in values if v is not None]}, dimension=dim, sheet=sheet)


def xlsx_zip_bomb(unzipped_mb: int = 60) -> bytes:
    """A worksheet part of `unzipped_mb` MB of one repeated row that deflates about 1000:1."""
    row = b'<row><c t="inlineStr"><is><t>a</t></is></c></row>'
    head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
            b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
    body = row * (unzipped_mb * 1024 * 1024 // len(row))
    return xlsx({}, sheet_xml=head + body + b"</sheetData></worksheet>")


def xlsx_wide_row(mb: int = 8) -> bytes:
    """One row of `mb` MB of cells: openpyxl holds a whole row in memory (8 MB of XML cost 186 MB and 7 s)."""
    import random
    rng = random.Random(1)
    cells = b"".join(b"<c><v>%d</v></c>" % rng.randrange(10**5) for _ in range(mb * 1024 * 1024 // 17))
    head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
            b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">')
    return xlsx({}, sheet_xml=head + cells + b"</row></sheetData></worksheet>")
