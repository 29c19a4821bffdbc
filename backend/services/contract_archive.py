"""Labour contracts sent as a zip: its files taken out one by one within size limits (no zip bombs)."""
from __future__ import annotations

import io
import zipfile

ZIP_MAGIC = b"PK\x03\x04"
MAX_ENTRIES = 200
MAX_TOTAL_BYTES = 200 * 1024 * 1024   # what one archive may expand to, all files together


def _name(info: zipfile.ZipInfo) -> str:
    """The entry's file name; archives made on Chinese Windows store GBK names without the UTF-8 flag."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.rsplit("/", 1)[-1]


def expand(files: list[tuple[str, bytes]], max_file_bytes: int) -> list[tuple[str, bytes | None, str | None]]:
    """(file name, bytes or None, error code or None) for every uploaded file, a zip replaced by its files.

    An entry larger than `max_file_bytes` (declared or read) is payload_too_large; an unreadable archive,
    too many entries or too much in all is invalid_archive for the archive itself.
    """
    out: list[tuple[str, bytes | None, str | None]] = []
    for filename, data in files:
        if not data.startswith(ZIP_MAGIC):
            out.append((filename, data, None))
            continue
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                entries = [i for i in zf.infolist() if not i.is_dir() and not _name(i).startswith((".", "__MACOSX"))
                           and "__MACOSX/" not in i.filename]
                if len(entries) > MAX_ENTRIES or sum(i.file_size for i in entries) > MAX_TOTAL_BYTES:
                    out.append((filename, None, "invalid_archive"))
                    continue
                for info in entries:
                    name = f"{filename}/{_name(info)}"
                    if info.file_size > max_file_bytes:
                        out.append((name, None, "payload_too_large"))
                        continue
                    with zf.open(info) as member:
                        body = member.read(max_file_bytes + 1)   # never trust the declared size alone
                    out.append((name, body, "payload_too_large" if len(body) > max_file_bytes else None))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, OSError,
                ValueError):
            out.append((filename, None, "invalid_archive"))
    return out
