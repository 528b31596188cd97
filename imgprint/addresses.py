"""Which IP addresses a crawler has no business connecting to.

``non_public`` is True for loopback, private, link-local, CGNAT, multicast,
reserved and otherwise not globally routable addresses -- and for IPv6
addresses that carry such an IPv4 address inside: IPv4-mapped
(``::ffff:a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``), IPv4-compatible
(``::a.b.c.d``), NAT64 (``64:ff9b::/96``; the local-use ``64:ff9b:1::/48`` is
never public), 6to4 (``2002::/16``) and Teredo clients; plus the deprecated
site-local ``fec0::/10``. On a NAT64 or 6to4 network those forms reach the
IPv4 address they embed.
"""

from __future__ import annotations

import ipaddress


def host_key(host: str) -> str:
    """A host name as the guard, Tor routing and the browser relay compare it:
    lower case, no trailing dot."""
    return host.rstrip(".").lower()


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it embeds one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    n = int(ip)
    if n >> 32 == 0xFFFF0000 or ip in _NAT64 or (n >> 32 == 0 and n > 1):
        return ipaddress.IPv4Address(n & 0xFFFFFFFF)
    return None


def non_public(address: str) -> bool:
    """True for any address a crawler has no business connecting to."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in _NAT64_LOCAL:
            return True
        inner = embedded_ipv4(ip)
        if inner is not None and (not inner.is_global or inner.is_multicast):
            return True
        if inner is not None and ip in _NAT64:
            return False  # NAT64 of a public address (is_global says no to the prefix)
    return not ip.is_global or ip.is_multicast


def ip_literal(host: str) -> str | None:
    """The address a URL host is, when it is an IP literal."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
