"""OpenAPI operations of the web console's routes (``gateway/admin/console.py`` serves them).

The console is HTML for browsers; the document lists its routes so that every route the app
serves is documented. Security: the sign-in form takes the admin key and sets the session
cookie ``grove_console``; the pages and the admin API then take that cookie (the admin API
needs ``x-grove-console: 1`` besides it on every method but GET and HEAD).
"""

from __future__ import annotations

from gateway.openapi import Operation, Param

_HTML = {"type": "string", "description": "An HTML page."}
_FILE = {"type": "string", "description": "A console file (HTML, CSS, JavaScript, SVG, ...)."}
_COOKIE = ("Needs the session cookie grove_console (from POST /console/session); without it a browser "
           "(Accept: text/html) is sent to /console/login with a 303, anything else gets a 401.")
_TAGS = ("console",)

LOGIN = Operation("Console sign-in page", "Open to all: a form that posts the admin key to /console/session.",
                  reply=_HTML, media="text/html", errors=(404,), tags=_TAGS)
SIGN_IN = Operation(
    "Sign in to the console",
    "An application/x-www-form-urlencoded form with the field 'admin_key'. The admin key: 303 to "
    "/console/ with the cookie grove_console (HttpOnly, SameSite=Strict, Secure over https, 12 h; a "
    "signature, valid on every replica). Another key: 401 with the sign-in page (HTML) and a message.",
    status=303, errors=(404, 413, 415), tags=_TAGS)
SIGN_OUT = Operation("Sign out of the console", "Clears the cookie; 303 to /console/login.", status=303,
                     errors=(404,), tags=_TAGS)
INDEX = Operation("Console overview page", _COOKIE, reply=_HTML, media="text/html", errors=(401, 404), tags=_TAGS)
FILE = Operation("A console page or asset", _COOKIE + " ETag and Last-Modified let browsers revalidate.",
                 params=(Param("path", "The file, relative to the console folder.", "path"),),
                 reply=_FILE, media="text/html", more_media={"text/css": _FILE, "text/javascript": _FILE},
                 errors=(401, 404), tags=_TAGS)
