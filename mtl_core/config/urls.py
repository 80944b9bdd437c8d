"""What a source.path URL may say: a database server's address, never its password (the config is logged
whole to MLflow). Which engines have a reader is mtl_core/sources/database.py's to say."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mtl_core.errors import ConfigError

SECRET_KEYS = ("password", "passfile_password", "sslpassword")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme(path: str) -> str | None:
    m = _SCHEME.match(str(path).strip())
    return m.group(1).lower() if m else None


def is_database(path: str) -> bool:
    """source.path names a database server (a URL), not a file or folder."""
    return scheme(path) not in (None, "file")


def redact(url: str) -> str:
    """The URL with any password replaced by ***, fit for a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}{':***' if ':' in user else ''}@{host}"
    query = urlencode([(k, "***" if k.lower() in SECRET_KEYS else v) for k, v in parse_qsl(parts.query)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def refuse_password(path: str) -> str:
    """The URL when it holds no password; else ConfigError (password masked)."""
    parts = urlsplit(path.strip())
    if parts.password is not None or any(k.lower() in SECRET_KEYS for k, _ in parse_qsl(parts.query)):
        raise ConfigError(f"{redact(path)} holds a password, which a config file (logged whole to MLflow) must "
                          f"not: remove it and give it in PGPASSWORD or ~/.pgpass instead")
    return path.strip()
