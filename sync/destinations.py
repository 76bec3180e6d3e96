"""Where a push may go: an endpoint URL is checked when it is registered and again before every POST.

The rules, in the order they are checked:

1. The URL is ``https``; plain ``http`` only to a host named in ``SYNC_DEVELOPMENT_HOSTS`` (a
   comma-separated list read from the environment, empty by default: development machines and the
   tests name ``127.0.0.1`` there for their loopback receivers).  No user name or password in the URL.
2. The host resolves, and every address it resolves to is a public unicast address: none private,
   loopback, link-local (169.254.169.254, the cloud metadata service), multicast, reserved,
   unspecified or shared (carrier-grade NAT).  A host on the development list is exempt.
3. Before every POST the host is resolved again (an answer may change after registration), and the
   POST connects to the very address that was checked, not to a second lookup, so a DNS answer that
   changes between the check and the connection (rebinding) cannot redirect it.  TLS still verifies
   the certificate against the host name.

A refusal names the rule; at send time it is recorded on the delivery as a failed attempt.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from consortium.errors import Invalid

from .conf import sync_setting


class DestinationRefused(Invalid):
    code = "endpoint_url_refused"


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``address``) and what to ask for (``host``, ``path``)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def development_hosts() -> frozenset[str]:
    value = sync_setting("SYNC_DEVELOPMENT_HOSTS")
    return frozenset(item.strip().lower() for item in str(value).split(",") if item.strip())


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the tests replace this to play DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _forbidden(address: str) -> str | None:
    """Why ``address`` may not receive pushes, or ``None`` for a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return _("a loopback address")
    if ip.is_link_local:
        return _("a link-local address")
    if ip.is_multicast:
        return _("a multicast address")
    if ip.is_unspecified or ip.is_reserved:
        return _("a reserved address")
    if ip.is_private or not ip.is_global:
        return _("a private address")
    return None


def _refuse(message: str) -> DestinationRefused:
    return DestinationRefused(message, field="url")


def check_url(url: str) -> Destination:
    """Check ``url`` against the rules above, resolving its host now; refuse with a reason naming the URL."""
    parts = urlsplit(url or "")
    try:
        port = parts.port
    except ValueError:
        raise _refuse(_("The URL's port is not a number between 0 and 65535.")) from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise _refuse(_("Enter an https URL."))
    if parts.username is not None or parts.password is not None:
        raise _refuse(_("The URL may not contain a user name or password."))
    development = host in development_hosts()
    if parts.scheme == "http" and not development:
        raise _refuse(
            _("Pushes go over https only; plain http only to hosts in SYNC_DEVELOPMENT_HOSTS (%(host)s is not one).")
            % {"host": host}
        )
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise _refuse(_("The host %(host)s cannot be resolved.") % {"host": host})
    if not development:
        for address in addresses:
            reason = _forbidden(address)
            if reason is not None:
                raise _refuse(
                    _("The host %(host)s resolves to %(address)s, %(reason)s; pushes go to public addresses only.")
                    % {"host": host, "address": address, "reason": reason}
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Destination(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])
