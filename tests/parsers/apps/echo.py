"""Echo apps for the Python cookie parsers, each under wsgiref's server (as
a WSGI app is served in development): werkzeug (Flask's request.cookies),
django (a Django request's COOKIES) and simplecookie (http.cookies, the
standard library). Prints what the parser reads for the cookie named in
?name=. Usage: echo.py werkzeug|django|simplecookie PORT
"""
import http.cookies
import json
import sys
import urllib.parse
from wsgiref.simple_server import WSGIRequestHandler, make_server


def reading(value, raw):
    out = {"type": "missing", "value": "", "other": "",
           "raw": raw.encode("latin-1", "replace").hex() if raw is not None else ""}
    if isinstance(value, str):
        out["type"] = "string"
        out["value"] = value.encode("utf-8", "surrogatepass").hex()
    elif value is not None:
        out["type"] = "other"
        out["other"] = repr(value)
    return out


def werkzeug_app():
    from werkzeug.wrappers import Request, Response

    @Request.application
    def app(request):
        name = request.args.get("name", "")
        value = request.cookies.get(name)
        return Response(json.dumps(reading(value, request.environ.get("HTTP_COOKIE"))),
                        mimetype="application/json")
    return app


def django_app():
    import django
    from django.conf import settings
    from django.http import JsonResponse
    from django.urls import re_path

    def view(request):
        return JsonResponse(reading(request.COOKIES.get(request.GET.get("name", "")),
                                    request.META.get("HTTP_COOKIE")))

    settings.configure(DEBUG=False, SECRET_KEY="parser-echo", ALLOWED_HOSTS=["*"],
                       ROOT_URLCONF=__name__, MIDDLEWARE=[], INSTALLED_APPS=[])
    global urlpatterns
    urlpatterns = [re_path(r"", view)]
    django.setup()
    from django.core.wsgi import get_wsgi_application
    return get_wsgi_application()


def simplecookie_app():
    def app(environ, start_response):
        name = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("name", [""])[0]
        raw = environ.get("HTTP_COOKIE")
        value = None
        try:
            jar = http.cookies.SimpleCookie(raw or "")
            if name in jar:
                value = jar[name].value
        except http.cookies.CookieError:
            pass  # what an app using it sees: no cookies
        body = json.dumps(reading(value, raw)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    return app


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    apps = {"werkzeug": werkzeug_app, "django": django_app, "simplecookie": simplecookie_app}
    server = make_server("127.0.0.1", int(sys.argv[2]), apps[sys.argv[1]](), handler_class=QuietHandler)
    server.serve_forever()
