"""HTTP with urllib: one request helper whose failures are StoreErrors naming the URL."""

import json
import urllib.error
import urllib.request
from http.client import HTTPResponse

from wasmforge.core.errors import StoreError

TIMEOUT = 60


def send(url: str, *, method: str = "GET", data: object = None, headers: dict[str, str] | None = None) -> HTTPResponse | None:
    """The open response, or None for 404 (callers decide whether absence is an error)."""
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})  # type: ignore[arg-type]
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 404:
                return None
            raise StoreError(f"{method} {url}: HTTP {exc.code} {_detail(exc)}".rstrip()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(f"{method} {url}: cannot connect ({reason}); is the store running and the URL right?") from None


def _detail(exc: urllib.error.HTTPError) -> str:
    """A registry's JSON error message, or the first line of any other body."""
    body = exc.read(4096).decode("utf-8", "replace")
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError):
        return body.strip().splitlines()[0][:200] if body.strip() else exc.reason
