"""IPv4 and IPv6 addresses, validated with the standard library's `ipaddress`.

A dotted quad is ambiguous: "v1.2.3.4" or "version 1.2.3.4" is a version string, not a host.
Quads glued to a letter or to more dotted parts are never candidates, and a quad right after
a version-like word (v, ver, version, build, release, firmware, section, chapter, §) is skipped.
Every other valid address is flagged, private and loopback ranges included, because a log or a
note rarely says which is which and an allow-list can exempt known infrastructure.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from apps.privacy.engine.detectors.context import after_version_word
from apps.privacy.engine.entities import EntityType, Finding
from apps.privacy.engine.policy import MaskingPolicy

_IPV4 = re.compile(r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w]|\.[0-9A-Za-z])", re.ASCII)
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}"
    r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?!\w|::|\.\w)",
    re.ASCII,
)

# Pre-scan gates (detectors/__init__.py): a dotted quad's inner digits and dots; the two
# colons with only hex digits between them that the IPv6 look-ahead requires.
IPV4_GATE = ("[0-9]", r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
IPV6_GATE = (":", r"[0-9A-Fa-f]*:")


def detect_ipv4(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    if "." not in text:
        return
    for match in _IPV4.finditer(text):
        value = match.group()
        if after_version_word(text, match.start()):
            continue
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            continue
        yield Finding(
            EntityType.IP_ADDRESS, match.start(), match.end(), value, 0.8, "ipv4", str(address)
        )


def detect_ipv6(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    if "::" not in text and text.count(":") < 7:
        return
    for match in _IPV6.finditer(text):
        value = match.group()
        if value.endswith(":") and not value.endswith("::"):
            value = value[:-1]
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            continue
        if address.is_unspecified:
            continue
        start = match.start()
        yield Finding(
            EntityType.IP_ADDRESS, start, start + len(value), value, 0.9, "ipv6", str(address)
        )
