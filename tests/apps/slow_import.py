"""An app whose import takes IMPORT_DELAY seconds (default 1), so tests can
watch a reload while new workers are still loading."""
import os
import time

time.sleep(float(os.environ.get("IMPORT_DELAY", "1")))


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"slow"]
