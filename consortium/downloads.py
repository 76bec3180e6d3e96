"""Serving a stored file that someone uploaded (referral and diagnostic attachments, settlement files).

An uploaded PDF can carry JavaScript, and a file can be a PDF and an HTML page at once (a polyglot):
rendered inline from the application's origin, either runs with the signed-in user's cookies.  So
every such file leaves as a download, never a page of ours:

* ``Content-Disposition: attachment`` (with the RFC 6266 ``filename*`` for Chinese names), so the
  browser saves it instead of rendering it in a tab of the site;
* ``Content-Security-Policy: sandbox; default-src 'none'``: should anything still render it (an old
  browser, a PDF viewer that ignores the disposition), it runs in an opaque origin with no script,
  no plug-in, no fetch and no form;
* ``X-Content-Type-Options: nosniff`` and a content type from a short list (anything else is
  ``application/octet-stream``), so the bytes are never re-guessed as HTML;
* ``Cross-Origin-Resource-Policy: same-origin``, so another site cannot embed it.
"""

from django.http import FileResponse

#: Content types a stored upload is served as; the type recorded at upload came from its magic bytes.
SERVED_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "application/dicom",
        "application/xml",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)
SANDBOX_POLICY = "sandbox; default-src 'none'"


def attachment_response(stream, *, content_type: str, filename: str, size: int | None = None) -> FileResponse:
    served = content_type if content_type in SERVED_TYPES else "application/octet-stream"
    response = FileResponse(stream, content_type=served, as_attachment=True, filename=filename)
    if size is not None:
        response["Content-Length"] = str(size)
    response["Content-Security-Policy"] = SANDBOX_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
