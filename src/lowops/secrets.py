"""Secrets never leave the process: every message and log line passes through ``redact``.

Passwords are learnt from the configuration as it loads (the database URL, and
later any channel credentials); whatever text lowops prints or writes is
scrubbed of them, so a driver's error message quoting a connection string
cannot leak one either.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_SECRETS: set[str] = set()
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<tail>@)")
# A credential in a URL's query string (libpq takes ?password=…, some drivers ?token=…).
_QUERY_SECRET = re.compile(r"(?P<head>[?&][A-Za-z_]*(?:password|passwd|pwd|pass|secret|token|api_?key)=)"
                           r"(?P<pw>[^&\s#'\"]+)", re.I)
MASK = "***"


def register(secret: str | None) -> None:
    """Remember a secret so that ``redact`` removes it from any text."""
    if secret and len(secret) >= 3:
        _SECRETS.add(secret)
        _SECRETS.add(unquote(secret))


def register_url(url: str) -> None:
    """Remember the password of a database URL: before the host, and in the query string."""
    match = _URL_PASSWORD.search(url)
    if match:
        register(match.group("pw"))
    for found in _QUERY_SECRET.finditer(url):
        register(found.group("pw"))


def redact(text: str) -> str:
    """Replace every known secret, and any password inside a URL, by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("tail"), text)
    text = _QUERY_SECRET.sub(lambda m: m.group("head") + MASK, text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def mask_url(url: str) -> str:
    """A database URL fit for logs and messages: the password replaced by ``***``."""
    return redact(url)
