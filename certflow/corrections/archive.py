"""Forms sent inside a zip archive (Windows' "发送到 → 压缩(zipped)文件夹").

Windows and most Chinese archivers store member names in GBK without the zip
UTF-8 flag; Python then decodes them as CP437, which is undone here.
"""

from __future__ import annotations

import io
import zipfile

from certflow.corrections.decode import decode_bytes

_UTF8_FLAG = 0x800
# An archive of a few forms is small; a larger member is not read (zip bombs).
# zipfile never inflates a member past its declared size, so the caps hold.
MAX_MEMBER_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 50


def member_name(info: zipfile.ZipInfo) -> str:
    """Return a member's name as its author wrote it."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    return decode_bytes(info.filename.encode("cp437"))


def zip_members(
    data: bytes, suffixes: tuple[str, ...]
) -> list[tuple[str, bytes | None]] | None:
    """Return (name, bytes) of the members whose name ends in ``suffixes``.

    Bytes are None for a member too large to read. Returns None when ``data``
    is no readable zip archive.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()[:MAX_MEMBERS]
        found: list[tuple[str, bytes | None]] = []
        budget = MAX_TOTAL_BYTES
        for info in infos:
            name = member_name(info)
            if info.is_dir() or not name.lower().endswith(suffixes):
                continue
            if info.file_size > min(MAX_MEMBER_BYTES, budget):
                found.append((name, None))
            else:
                budget -= info.file_size
                found.append((name, archive.read(info)))
        return found
    except Exception:
        # Damaged or hostile archives make zipfile raise BadZipFile, ValueError,
        # EOFError, zlib.error, RuntimeError (encrypted), NotImplementedError
        # (unknown compression)...: all mean "cannot be read".
        return None
