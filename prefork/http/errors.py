"""The bodies of the responses the server itself sends (400, 408, 500, ...)."""
from http import HTTPStatus


def error_body(status):
    """(status line, body) for a response the server itself sends."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{status} {phrase}", f"{status} {phrase}\n".encode()
