"""Who is on the other end of a request: the client address and user agent, as the audit records them.

The address is ``REMOTE_ADDR`` unless ``TRUSTED_PROXY_COUNT`` says how many reverse proxies of
our own stand in front of the application; then it is that many hops from the right of
``X-Forwarded-For`` (a client can put anything at the left of that header, never at the right).
"""

import contextvars

from django.conf import settings

USER_AGENT_LENGTH = 300


def client_ip(request) -> str:
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "") or ""


def user_agent(request) -> str:
    return (request.META.get("HTTP_USER_AGENT", "") or "")[:USER_AGENT_LENGTH]


_current: contextvars.ContextVar = contextvars.ContextVar("consortium_request", default=None)


class CurrentRequestMiddleware:
    """Makes the request being answered known to the access log, whichever app writes the entry."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(request)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


def current_request():
    return _current.get()


def request_detail(request) -> dict:
    """The part of an audit ``detail`` that says where a request came from."""
    if request is None:
        return {}
    return {"ip": client_ip(request), "user_agent": user_agent(request)}
