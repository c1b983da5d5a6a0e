"""Forms sent inside a zip archive (Windows' "发送到 → 压缩(zipped)文件夹").

Windows and most Chinese archivers store member names in GBK without the zip
UTF-8 flag; Python then decodes them as CP437, which is undone here.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

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


@dataclass
class ZipContents:
    """What a zip archive holds for the reader: the members it reads, and the
    members that are archives themselves, named but never opened (an archive
    in an archive is how zip bombs nest)."""

    # (name, bytes); bytes are None for a member too large to read
    members: list[tuple[str, bytes | None]] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)


def zip_members(
    data: bytes, suffixes: tuple[str, ...], archive_suffixes: tuple[str, ...] = ()
) -> ZipContents | None:
    """Return the members whose name ends in ``suffixes``, read, and the names
    of those ending in ``archive_suffixes``, unread.

    Returns None when ``data`` is no readable zip archive.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()[:MAX_MEMBERS]
        found = ZipContents()
        budget = MAX_TOTAL_BYTES
        for info in infos:
            name = member_name(info)
            if info.is_dir():
                continue
            if name.lower().endswith(archive_suffixes):
                found.archives.append(name)
            elif not name.lower().endswith(suffixes):
                continue
            elif info.file_size > min(MAX_MEMBER_BYTES, budget):
                found.members.append((name, None))
            else:
                budget -= info.file_size
                found.members.append((name, archive.read(info)))
        return found
    except Exception:
        # Damaged or hostile archives make zipfile raise BadZipFile, ValueError,
        # EOFError, zlib.error, RuntimeError (encrypted), NotImplementedError
        # (unknown compression)...: all mean "cannot be read".
        return None
