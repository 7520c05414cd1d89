"""What an inbound-call webhook answers, in each provider's own format.

A number's voice URL must answer TwiML (Twilio), Plivo XML, or, for Exotel's Passthru
applet, an HTTP status that picks the flow's next applet. A free channel hands the call
on to the operator's answer URL; a busy number rejects the call as busy, or hands it on
to the operator's busy URL.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from fastapi.responses import Response

from ..numbers import Provider
from ..providers.catalog import registration

XML = "application/xml"
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'


def redirect(provider: Provider, url: str) -> Response:
    """Hand the call on to `url`: <Redirect> (TwiML, Plivo XML); Exotel's Passthru
    follows its "200 OK" branch."""
    if registration(provider).busy_element is None:
        return Response(status_code=200, media_type="text/plain")
    element = f'<Redirect method="POST">{escape(url)}</Redirect>'
    return Response(f"{PROLOG}<Response>{element}</Response>", media_type=XML)


def busy(provider: Provider, forward_url: str | None) -> Response:
    """The number is full: hand the call on to `forward_url`, else reject it as busy
    (TwiML <Reject reason="busy"/>, Plivo <Hangup reason="busy"/>). Exotel's Passthru
    follows its "302" branch (the flow decides what a busy caller hears)."""
    element = registration(provider).busy_element
    if element is None:
        headers = {"Location": forward_url} if forward_url else None
        return Response(status_code=302, headers=headers, media_type="text/plain")
    if forward_url:
        return redirect(provider, forward_url)
    return Response(f"{PROLOG}<Response>{element}</Response>", media_type=XML)
