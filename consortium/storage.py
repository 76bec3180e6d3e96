"""Stored files, whichever machine stored them: one door to Django's default storage.

Every file the platform keeps (inbound batch bodies, referral attachments, settlement files,
archived partitions) is written and read through Django's storage API, so a web machine and a
worker machine need no shared disk: with ``STORAGE_URL``/``S3_*`` set (``config/settings.py``) the
default storage is django-storages' S3 backend on any S3-compatible store; without them it is the
filesystem under ``MEDIA_ROOT`` (``var/media``).

What this module decides:

* **Names, not paths.**  Callers keep the storage name a save returned and hand it back here; no
  caller builds a local path, so nothing silently depends on the disk of the machine that wrote.
* **Streaming reads.**  ``open_stream`` gives a binary reader that fetches as it is read: the S3
  object's body (no whole-file download into a temporary file first) or the open file.  A missing
  object is a ``FileNotFoundError`` on both backends.
* **Streaming writes.**  ``save_stream`` hands a file object to the storage, which uploads it in
  parts (S3 multipart) or copies it in chunks; nothing is read into memory whole.
"""

from django.core.files import File
from django.core.files.storage import default_storage, storages


def backend():
    """The storage in use (the object behind ``default_storage``)."""
    return storages["default"]


def is_remote() -> bool:
    """True when files live in an object store rather than on this machine's disk."""
    return hasattr(backend(), "bucket_name")


def save_stream(name: str, stream) -> str:
    """Store the binary file object ``stream`` under ``name`` (or a free variant of it); returns the name used."""
    return default_storage.save(name, stream if isinstance(stream, File) else File(stream, name=name))


def open_stream(name: str):
    """A binary reader of the stored file ``name``, streamed from the store; close it when done."""
    storage = backend()
    if is_remote():
        from botocore.exceptions import ClientError
        from storages.utils import clean_name

        key = storage._normalize_name(clean_name(name))
        try:
            return storage.bucket.Object(key).get()["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(name) from None
            raise
    return storage.open(name, "rb")


def exists(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def delete(name: str) -> None:
    """Remove a stored file; a file already gone is not an error."""
    if name:
        default_storage.delete(name)


def size(name: str) -> int:
    return default_storage.size(name)
