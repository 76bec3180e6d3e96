"""Error pages people can act on, in both languages, with the site's navigation.

* 403, 404 and 500 render the site's layout with a plain explanation and a way on; a 404 on
  another institution's patient says so and, for a user who may open records in an emergency,
  links to break-glass (a 404 it stays: the page never confirms that the patient exists).
* A CSRF failure (a form kept open past the session, or a stale tab) explains itself; the form's
  draft is kept in the browser (static/js/site.js) and restored when the form is opened again.
* :class:`ActionGetRedirectMiddleware`: a browser's GET on a URL that only takes POST (an action,
  opened from the address bar or a bookmark) goes to the page of the object the action belongs to
  (which applies its own access rule); programs and the API keep the plain 405.
* :class:`FriendlyNotFoundMiddleware`: with DEBUG on (the demo, ``make demo``), Django answers a 404
  with its technical page (URL patterns, the exception text) instead of ``handler404``; a clinic user
  trying the demo must see the same page as in production, break-glass hint included.
"""

import re

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from consortium.permissions import Action, can_anywhere

PATIENT_PAGE = re.compile(r"/records/patients/\d+/")


def _user(request):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def page_not_found(request, exception=None):
    user = _user(request)
    patient_page = bool(PATIENT_PAGE.search(request.path))
    context = {
        "patient_page": patient_page,
        "may_break_glass": bool(user and patient_page and can_anywhere(user, Action.VIEW_SHARED_RECORD)),
    }
    return render(request, "errors/404.html", context, status=404)


def permission_denied(request, exception=None):
    return render(request, "errors/403.html", {}, status=403)


def server_error(request):
    # No context processors' database reads: the error may be the database itself.
    from django.template import loader

    template = loader.get_template("errors/500.html")
    from django.http import HttpResponseServerError

    return HttpResponseServerError(template.render({"request": request}))


def csrf_failure(request, reason=""):
    return render(request, "errors/csrf.html", {"logged_in": bool(_user(request))}, status=403)


class ActionGetRedirectMiddleware:
    """A GET answered 405 (the URL only takes POST) becomes a redirect to the nearest page above it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code != 405
            or request.method != "GET"
            or request.path.startswith("/api/")
            or "text/html" not in request.headers.get("Accept", "")
        ):
            return response  # only a person's browser is sent on; programs keep the plain 405
        path = request.path.rstrip("/")
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            candidate = path + "/"
            try:
                resolve(candidate)
            except Resolver404:
                continue
            if candidate == "/" or candidate.rstrip("/") == "":
                break
            if hasattr(request, "_messages"):
                messages.info(request, _("That address runs an action from a form; here is the page it belongs to."))
            return HttpResponseRedirect(candidate)
        return response


class FriendlyNotFoundMiddleware:
    """Under DEBUG, a page's 404 (raised by a view, or an address that matches no URL) is the site's own page.

    With DEBUG off this does nothing: ``handler404`` already renders the same page.  The API keeps its
    problem-details answers, static files their plain 404.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _applies(request) -> bool:
        return settings.DEBUG and not request.path.startswith(("/api/", "/" + settings.STATIC_URL.lstrip("/")))

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 404 and getattr(request, "resolver_match", None) is None and self._applies(request):
            return page_not_found(request)  # no URL matched: Django's technical "URLconf" page otherwise
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, Http404) and self._applies(request):
            return page_not_found(request, exception)
        return None
