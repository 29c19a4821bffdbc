"""A WSGI app that answers with its worker's process id (tests/server/test_accept_balance.py)."""
import os


def app(environ, start_response):
    """Answer every request with the pid of the worker that holds the connection."""
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
