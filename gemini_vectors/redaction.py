"""One redaction for every form a store address takes: secrets never leave the process (guarantee 4).

A store is named by a URL (``postgresql://user:pw@host/db?sslpassword=...``), a libpq ``key=value``
connection string (``host=db password='s3 cret'``), or anything a plugin accepts. :func:`redact_url`
hides the password of the netloc and the value of every secret parameter, in the query, the fragment or a
conninfo string, and keeps the rest as given so that the result still says which server is meant.
:func:`redact_text` removes the same secrets from any other text (a driver's error message that echoes a
piece of the connection string), by value.

This module is the bottom layer: it imports nothing of gemini-vectors, so that every layer can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

__all__ = ["REDACTED", "is_redacted", "is_secret_parameter", "redact_text", "redact_url", "url_secrets"]

#: What a secret is replaced with. Callers (the CLI) recognize a redacted URL by it.
REDACTED = "***"

#: Parameter names whose value is a secret, compared after lower-casing and mapping ``-`` to ``_``.
SECRET_PARAMETERS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "sslpassword",
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "secret",
        "client_secret",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "signature",
        "sig",
        "x_amz_signature",
        "x_amz_security_token",
        "private_key",
        "session_token",
    }
)
#: Any parameter named like ``*_password``, ``*_token``, ``*_secret``, ``*_api_key``... is a secret too.
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "api_key", "apikey", "_key", "credentials")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# One ``keyword = value`` of a libpq conninfo string: the value is single-quoted (backslash escapes
# inside), an unterminated quote (libpq refuses it, but it must not leak either), or a run of non-blank
# characters with backslash escapes.
_CONNINFO_PAIR = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_\-]*)(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|'.*|(?:\\.|[^\s\\])*)",
    re.DOTALL,
)


def is_secret_parameter(name: str) -> bool:
    """Whether a URL or conninfo parameter called ``name`` (case-insensitive) holds a secret."""
    key = name.strip().lower().replace("-", "_")
    return key in SECRET_PARAMETERS or key.endswith(_SECRET_SUFFIXES)


def is_redacted(url: str) -> bool:
    """Whether ``url`` is the output of :func:`redact_url` with something hidden (it cannot connect)."""
    return REDACTED in url and redact_url(url) == url


def _split_url(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme://, userinfo, rest of the authority and path, query and fragment)`` or None.

    The userinfo ends at the last ``@`` before the query: a password holding an unencoded ``/`` or
    ``@`` is still found (libpq would not parse it, but it must not show either way).
    """
    m = _SCHEME.match(url)
    if m is None:
        return None
    start = m.end()
    rest = url[start:]
    stop = len(rest)
    for mark in ("?", "#"):
        at = rest.find(mark)
        if at >= 0:
            stop = min(stop, at)
    at = rest.rfind("@", 0, stop)
    userinfo = rest[:at] if at >= 0 else ""
    host_path = rest[at + 1 : stop] if at >= 0 else rest[:stop]
    return url[:start], userinfo, host_path, rest[stop:]


def _params(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, replacement)`` of the value of each secret parameter in a query or fragment.

    A secret's value runs to the next ``&`` (``;`` may be part of a password); other values end at
    ``&`` or ``;``, so that a ``;``-separated secret after them is found as well. A value that is itself
    a URL with a password (``?host=https://user:pw@proxy``) is replaced by its redacted form.
    """
    found: list[tuple[int, int, str]] = []
    i, n = 0, len(text)
    while i < n:
        j = i
        while j < n and text[j] not in "=&;":
            j += 1
        if j < n and text[j] == "=":
            name = unquote_plus(text[i:j])
            if is_secret_parameter(name):
                k = text.find("&", j + 1)
                k = n if k < 0 else k
                found.append((j + 1, k, REDACTED))
            else:
                k = j + 1
                while k < n and text[k] not in "&;":
                    k += 1
                value = unquote_plus(text[j + 1 : k])
                if "://" in value and redact_url(value) != value:
                    found.append((j + 1, k, redact_url(value)))
            i = k
        else:
            i = j
        i += 1  # the separator
    return found


def _redact_params(text: str) -> str:
    out: list[str] = []
    last = 0
    for start, end, replacement in _params(text):
        out.append(text[last:start])
        out.append(replacement if end > start else "")
        last = end
    out.append(text[last:])
    return "".join(out)


def _conninfo_secrets(text: str) -> list[tuple[int, int]]:
    return [
        (m.start("value"), m.end("value"))
        for m in _CONNINFO_PAIR.finditer(text)
        if m.group("value") and is_secret_parameter(m.group("key"))
    ]


def redact_url(url: str) -> str:
    """``url`` with every secret replaced by ``***``; safe for reprs, logs, errors and stored state.

    Hidden: the password of ``user:password@`` (the user name stays), the value of every secret query or
    fragment parameter (``password``, ``sslpassword``, ``api_key``, ``token``... in any case, also when
    the name is percent-encoded), and in a libpq conninfo string (``host=db password=x``) the value of
    every secret keyword, quoted or not. Anything that is not a string comes back as its type's name.
    """
    if not isinstance(url, str):
        return f"<{type(url).__name__}>"
    parts = _split_url(url)
    if parts is None:
        # Not scheme://...: a libpq conninfo string, or something a plugin understands.
        out: list[str] = []
        last = 0
        for start, end in _conninfo_secrets(url):
            out.append(url[last:start])
            out.append(REDACTED)
            last = end
        out.append(url[last:])
        return "".join(out)
    scheme, userinfo, host_path, tail = parts
    if userinfo:
        user, colon, password = userinfo.partition(":")
        userinfo = f"{user}:{REDACTED}" if colon and password else userinfo
        host_path = f"{userinfo}@{host_path}"
    return scheme + host_path + _redact_params(tail)


def url_secrets(url: str) -> list[str]:
    """The secret values in ``url``, as written and percent-decoded, longest first (for redact_text)."""
    if not isinstance(url, str):
        return []
    raw: list[str] = []
    parts = _split_url(url)
    if parts is None:
        for start, end in _conninfo_secrets(url):
            value = url[start:end]
            raw.append(value)
            if value.startswith("'"):
                raw.append(re.sub(r"\\(.)", r"\1", value.strip("'")))
    else:
        _scheme, userinfo, _host, tail = parts
        password = userinfo.partition(":")[2]
        if password:
            raw += [password, unquote(password)]
        for start, end, replacement in _params(tail):
            value = tail[start:end]
            if replacement == REDACTED:
                raw += [value, unquote_plus(value)]
            else:
                raw += url_secrets(unquote_plus(value))
    # Very short values would blank out unrelated text; they are still hidden in the URL itself.
    return sorted({s for s in raw if len(s) >= 3}, key=len, reverse=True)


def redact_text(text: str, *urls: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the secrets of ``urls`` or the values in ``secrets`` (API keys), URLs in it redacted.

    For messages built from a driver's exception, which may echo the connection string or part of it.
    """
    values = [s for url in urls for s in url_secrets(url)] + [s for s in secrets if s]
    for secret in sorted(set(values), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _EMBEDDED_URL.sub(lambda m: redact_url(m.group(0)), text)


# A URL inside free text (up to a blank or a quote), so that a message quoting one is redacted as well.
_EMBEDDED_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
