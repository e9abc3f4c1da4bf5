"""HTTP with urllib: one request helper whose failures are StoreErrors naming the URL.

Redirects are followed only to https, or to plain http on the loopback interface, and never from
https to http: a mirror may move, but not off an encrypted connection."""

import ipaddress
import json
import urllib.error
import urllib.request
from http.client import HTTPResponse
from urllib.parse import urlsplit

from wasmforge.core.errors import StoreError

# Seconds one read may wait for its next bytes; the whole download has its own deadline (pull.py).
TIMEOUT = 60


def redirect_refusal(origin: str, target: str) -> str | None:
    """Why a redirect from `origin` to `target` is refused, or None when it may be followed."""
    old, new = urlsplit(origin).scheme, urlsplit(target)
    if new.scheme == "https":
        return None
    if new.scheme != "http":
        return f"not http(s): {new.scheme or 'no scheme'}"
    if old == "https":
        return "from https to plain http"
    if not is_loopback(new.hostname or ""):
        return "plain http is only allowed to this machine"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        why = redirect_refusal(req.full_url, newurl)
        if why is not None:
            fp.close()
            raise StoreError(f"{req.get_method()} {req.full_url}: refusing a redirect to {newurl} ({why})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_CheckedRedirects)


def send(url: str, *, method: str = "GET", data: object = None, headers: dict[str, str] | None = None) -> HTTPResponse | None:
    """The open response, or None for 404 (callers decide whether absence is an error)."""
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})  # type: ignore[arg-type]
    try:
        return _OPENER.open(request, timeout=TIMEOUT)
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
