"""tests/apps/work.py's apps, imported slowly by every worker but the first:
the first importer creates $STAGGER_FILE, the others then sleep
$STAGGER_DELAY seconds (default 3), so the server is "starting" (one
worker accepts, the master waits for the rest) for that long."""
import os
import time

try:
    os.close(os.open(os.environ["STAGGER_FILE"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
except FileExistsError:
    time.sleep(float(os.environ.get("STAGGER_DELAY", "3")))

from work import app, asgi_app  # noqa: E402,F401
