"""Apps that break PEP 3333 in ways a server must survive."""


def returns_str(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text, not bytes"]


def returns_none(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return None


def never_starts(environ, start_response):
    return [b"no start_response"]


def yields_str(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield "text"


ROUTES = {"/str": returns_str, "/none": returns_none, "/no-start": never_starts, "/yield-str": yields_str}


def app(environ, start_response):
    return ROUTES[environ["PATH_INFO"]](environ, start_response)
