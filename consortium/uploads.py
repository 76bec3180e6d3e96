"""Checks on an uploaded zip archive (an XLSX workbook is one) before anything parses it.

A zip bomb is small on the wire and enormous once unpacked: a 265 KB "settlement workbook" can hold
gigabytes of sheet XML or shared strings, and a parser that trusts it takes a web worker's memory
with it.  :func:`check_zip_archive` reads only the archive's central directory (no member is
unpacked) and refuses the upload, naming the file, when

* it is not a zip archive, or has more members than ``ZIP_UPLOAD_MAX_MEMBERS``;
* its members add up to more than ``ZIP_UPLOAD_MAX_BYTES`` unpacked;
* a member larger than 1 MiB unpacked is compressed more than ``ZIP_UPLOAD_MAX_RATIO`` to 1.

Python's ``zipfile`` then holds every member to the size the directory declares (reading past it
fails the member's CRC check), so a directory that lies about sizes gains nothing: the declared
sizes checked here are the most that can ever come out.
"""

import zipfile

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_RATIO = 100
DEFAULT_MAX_MEMBERS = 2000
RATIO_FLOOR = 1024 * 1024  # small members compress as they like: the ratio matters only for large ones


class ZipRefused(ValueError):
    """The archive was refused before parsing; ``str()`` is the message for the user."""


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def check_zip_archive(fileobj, *, name: str) -> None:
    """Refuse a zip archive that would unpack too large or too compressed; leaves ``fileobj`` at 0."""
    max_bytes = _limit("ZIP_UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)
    max_ratio = _limit("ZIP_UPLOAD_MAX_RATIO", DEFAULT_MAX_RATIO)
    max_members = _limit("ZIP_UPLOAD_MAX_MEMBERS", DEFAULT_MAX_MEMBERS)
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ZipRefused(_("%(name)s is not a readable zip archive (an XLSX workbook is one).") % {"name": name}) from None
    finally:
        fileobj.seek(0)
    if len(members) > max_members:
        raise ZipRefused(
            _("%(name)s holds %(count)d files; an upload may hold at most %(limit)d.")
            % {"name": name, "count": len(members), "limit": max_members}
        )
    total = sum(member.file_size for member in members)
    if total > max_bytes:
        raise ZipRefused(
            _("%(name)s unpacks to %(size)s, more than the %(limit)s an upload may unpack to; nothing was read.")
            % {"name": name, "size": filesizeformat(total), "limit": filesizeformat(max_bytes)}
        )
    for member in members:
        if member.file_size > RATIO_FLOOR and member.file_size > max_ratio * max(member.compress_size, 1):
            raise ZipRefused(
                _(
                    "%(name)s is compressed %(ratio)d to 1 (its part %(part)s); an upload may be compressed at most "
                    "%(limit)d to 1. It looks like a zip bomb; nothing was read."
                )
                % {
                    "name": name,
                    "ratio": member.file_size // max(member.compress_size, 1),
                    "part": member.filename[:100],
                    "limit": max_ratio,
                }
            )
