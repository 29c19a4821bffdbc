"""Spreadsheets in and out, safely: bounded reading of uploaded xlsx files and formula-proof exports.

Reading (roster, results, online records). An uploaded workbook is refused before openpyxl builds
anything big from it:

- the upload itself is at most MAX_UPLOAD_BYTES;
- the zip's own directory must promise at most MAX_UNZIPPED_BYTES in all (a zip bomb declares
  gigabytes; the declared size also bounds what zipfile will inflate), each part at most
  MAX_PART_RATIO times its compressed size once it is over a megabyte, and the parts openpyxl
  loads whole (shared strings, styles) at most MAX_LOADED_PART_BYTES;
- every worksheet is scanned as it inflates (a regular expression over the stream, no tree): its
  declared `<dimension>` and every `<row r=...>` must stay within the sheet's row limit, and no
  single row may be larger than MAX_ROW_BYTES of XML (openpyxl holds a whole row in memory: one
  8 MB row cost 186 MB and 7 s).

Only then does openpyxl read the sheet, in read-only mode, and the reading stops at the same row
limit. All of it runs before the request's first database query, so a large file never holds
SQLite's write lock (every transaction there is BEGIN IMMEDIATE).

Writing: a text cell starting with = + - @, a tab or a carriage return is run as a formula by Excel
and LibreOffice (a trainee named `=HYPERLINK(...)` becomes a live link). Every export goes through
`workbook_bytes` / `csv_bytes`, which prefix such text with a single quote (OWASP "CSV injection");
`unquote` takes the quote off again when one of our own templates comes back.
"""
from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from ..domain.errors import invalid

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A 10,000-row roster is ~0.3 MB as xlsx and 3 MB unzipped; a 50,000-row online-learning export ~1.5 MB
# and ~10 MB. The limits leave room for several times that and no more.
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_UNZIPPED_BYTES = 48 * 1024 * 1024
MAX_LOADED_PART_BYTES = 8 * 1024 * 1024  # shared strings and styles are parsed whole, not streamed
MAX_PART_RATIO = 200  # worksheet XML deflates about 10:1; a zip bomb about 1000:1
RATIO_FROM_BYTES = 1024 * 1024  # small parts may compress as well as they like
MAX_PARTS = 1000
MAX_ROW_BYTES = 256 * 1024  # a row of 64 long text cells is ~15 KB of XML
MAX_COLUMNS = 64  # columns read; a header further right than this is not looked for
HEADER_ROWS = 5  # the header is the first of the top five rows naming every required column
BLANK_ROWS = 1000  # blank rows (skipped) a sheet may carry on top of its data rows

_LOADED_WHOLE = re.compile(r"xl/(sharedStrings|styles|workbook)\.xml$", re.IGNORECASE)
_WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml$", re.IGNORECASE)
_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|dimension)\b([^>]*)>")
_ROW_NUMBER = re.compile(rb"""\br\s*=\s*["'](\d{1,12})["']""")
_DIMENSION_REF = re.compile(rb"""\bref\s*=\s*["'][A-Za-z]*\d*(?::[A-Za-z]*(\d{1,12}))?["']""")
_CHUNK = 1024 * 1024
_UNREADABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, InvalidFileException, KeyError, ValueError,
               TypeError, OSError, EOFError, IndexError, SyntaxError, NotImplementedError, RuntimeError)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def row_limit(max_rows: int) -> int:
    """The highest sheet row number a file with at most `max_rows` data rows may use."""
    return max_rows + HEADER_ROWS + BLANK_ROWS


def read_upload(stream) -> bytes:
    """Read an uploaded file, refusing more than MAX_UPLOAD_BYTES (422 file_too_large)."""
    data = stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise invalid("file_too_large", reason="upload_bytes", max_bytes=MAX_UPLOAD_BYTES)
    return data


def cell_text(value) -> str | None:
    """A cell as text: numbers without '.0', dates ISO, blanks None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    text = str(value).strip()
    return text or None


# ---- reading ----------------------------------------------------------------------------------

def _check_archive(zf: zipfile.ZipFile, max_rows: int) -> None:
    """Refuse zip bombs by the sizes the archive declares, then scan each worksheet's rows."""
    infos = zf.infolist()
    if len(infos) > MAX_PARTS:
        raise invalid("file_too_large", reason="too_many_parts", max_parts=MAX_PARTS)
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise invalid("file_too_large", reason="unzipped_bytes", max_bytes=MAX_UNZIPPED_BYTES)
    for info in infos:
        if info.file_size > RATIO_FROM_BYTES and info.file_size > MAX_PART_RATIO * max(1, info.compress_size):
            raise invalid("file_too_large", reason="compression_ratio", part=info.filename,
                          max_ratio=MAX_PART_RATIO)
        if _LOADED_WHOLE.search(info.filename) and info.file_size > MAX_LOADED_PART_BYTES:
            raise invalid("file_too_large", reason="part_bytes", part=info.filename,
                          max_bytes=MAX_LOADED_PART_BYTES)
    for info in infos:
        if _WORKSHEET.search(info.filename):
            _scan_worksheet(zf, info, max_rows)


def _too_many_rows(max_rows: int, **details):
    return invalid("too_many_rows", max_rows=max_rows, max_sheet_row=row_limit(max_rows), **details)


def _scan_worksheet(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_rows: int) -> None:
    """Stream one worksheet's XML: declared dimension, row numbers, row count and row size within limits."""
    limit = row_limit(max_rows)
    rows = last_row = 0
    open_row_at: int | None = None  # stream offset where the row being read began
    offset = 0  # stream offset of buf[0]
    buf = b""
    with zf.open(info) as src:
        while True:
            chunk = src.read(_CHUNK)
            buf += chunk
            # Tags are matched up to the last '<': a tag cut by the chunk boundary waits for the next chunk.
            end = len(buf) if not chunk else buf.rfind(b"<")
            if end < 0:
                end = 0
            for m in _TAG.finditer(buf, 0, end):
                closing, name, attrs = m.group(1), m.group(2), m.group(3)
                if name == b"dimension":
                    ref = _DIMENSION_REF.search(attrs)
                    if ref and ref.group(1) and int(ref.group(1)) > limit:
                        raise _too_many_rows(max_rows, declared_rows=int(ref.group(1)))
                    continue
                if closing:
                    open_row_at = None
                    continue
                number = _ROW_NUMBER.search(attrs)
                last_row = int(number.group(1)) if number else last_row + 1
                rows += 1
                if last_row > limit or rows > limit:
                    raise _too_many_rows(max_rows, row=max(last_row, rows))
                open_row_at = None if attrs.rstrip().endswith(b"/") else offset + m.start()
            if open_row_at is not None and offset + end - open_row_at > MAX_ROW_BYTES:
                raise invalid("file_too_large", reason="row_bytes", max_bytes=MAX_ROW_BYTES)
            if not chunk:
                return
            offset += end
            buf = buf[end:]
            if len(buf) > MAX_ROW_BYTES:  # one endless tag
                raise invalid("file_too_large", reason="row_bytes", max_bytes=MAX_ROW_BYTES)


def open_workbook(data: bytes, max_rows: int):
    """An openpyxl read-only workbook of checked xlsx bytes; 422 invalid_file / file_too_large / too_many_rows."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise invalid("file_too_large", reason="upload_bytes", max_bytes=MAX_UPLOAD_BYTES)
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise invalid("invalid_file", reason="xls_not_supported")
    if data[:4] != b"PK\x03\x04":
        raise invalid("invalid_file", reason="not_xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_archive(zf, max_rows)
        with warnings.catch_warnings():
            # Spreadsheets from other tools often lack styles openpyxl expects; that is not the user's fault.
            warnings.simplefilter("ignore")
            return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _UNREADABLE as exc:
        raise invalid("invalid_file", reason="unreadable", detail=type(exc).__name__) from None


def sheet_rows(ws, max_rows: int) -> Iterator[tuple[int, tuple]]:
    """(sheet row number, first MAX_COLUMNS values) of a read-only sheet, stopping at the row limit."""
    limit = row_limit(max_rows)
    # Rows padded to the declared width (a row of 64 cells costs twice a row of 5), never wider than MAX_COLUMNS.
    width = min(ws.max_column or MAX_COLUMNS, MAX_COLUMNS)
    # The declared row count was checked by the scan; not trusting it here means a file whose
    # dimension is too small (some tools write a wrong one) is still read to its last row.
    ws.reset_dimensions()
    # Row numbers are the sheet's own: openpyxl yields an empty row for each one a file leaves out.
    for number, values in enumerate(ws.iter_rows(max_col=width, values_only=True), start=1):
        if number > limit:
            raise _too_many_rows(max_rows, row=number)
        yield number, values


def _header_key(value) -> str:
    # "身份证号*", "身份证号（必填）" and stray blanks all name the same column.
    text = re.sub(r"[\s*＊]", "", str(value or ""))
    return re.sub(r"[（(].*?[)）]", "", text).lower()


def read_table(data: bytes, columns: dict[str, tuple[str, tuple[str, ...]]], required: tuple[str, ...],
               max_rows: int, sheet: str | None = None, one_of: tuple[str, ...] = ()) -> list[tuple[int, dict]]:
    """Rows of the first sheet (or `sheet`) as (spreadsheet row number, {field: raw value}).

    The header is the first of the top five rows naming every required column (and one of `one_of`);
    other columns are ignored and blank rows skipped. More than `max_rows` data rows is 422 too_many_rows.
    """
    wb = open_workbook(data, max_rows)
    aliases = {_header_key(a): field for field, (_, names) in columns.items() for a in names}
    positions: dict[str, int] | None = None
    out: list[tuple[int, dict]] = []
    try:
        ws = wb[sheet] if sheet and sheet in wb.sheetnames else wb.worksheets[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for number, values in sheet_rows(ws, max_rows):
                if positions is None:
                    found = {aliases[_header_key(v)]: i for i, v in enumerate(values)
                             if _header_key(v) in aliases}
                    if all(f in found for f in required) and (not one_of or any(f in found for f in one_of)):
                        positions = found
                    elif number >= HEADER_ROWS:
                        break
                    continue
                row = {f: values[i] if i < len(values) else None for f, i in positions.items()}
                if all(cell_text(v) is None for v in row.values()):
                    continue
                if len(out) >= max_rows:
                    raise _too_many_rows(max_rows, row=number)
                out.append((number, row))
    except _UNREADABLE as exc:
        raise invalid("invalid_file", reason="unreadable", detail=type(exc).__name__) from None
    finally:
        wb.close()
    if positions is None:
        raise invalid("invalid_file", reason="missing_columns",
                      columns=[columns[f][0] for f in required],
                      **({"one_of": [columns[f][0] for f in one_of]} if one_of else {}))
    return out


# ---- writing ----------------------------------------------------------------------------------

def neutralise(value):
    """Text that a spreadsheet would run as a formula, made plain text with a leading quote; others as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def unquote(value):
    """Undo `neutralise` on a value read back from one of our exports (a quote before a formula prefix)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def workbook_bytes(wb) -> bytes:
    """Save an openpyxl workbook after neutralising every text cell of every sheet."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                # A string starting with "=" was stored by openpyxl as a formula (data_type "f");
                # assigning the quoted text makes it a plain string cell again.
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES):
                    cell.value = neutralise(cell.value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows: Iterable[Iterable], bom: bool = True) -> bytes:
    """UTF-8 CSV (with a BOM so Excel reads the Chinese text) with every text cell neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return (("\ufeff" if bom else "") + buf.getvalue()).encode()
