"""The ASGI lifespan protocol (asgiref "Lifespan" spec 2.0), run by each
worker: startup before it accepts a connection, shutdown after its last
request.

``--lifespan on``: the app must support it; a startup that fails, or an app
that raises, is an app-load failure (the worker exits with code 4, so the
master stops the server when no worker serves, and a HUP reload keeps the
old workers). ``auto`` (the default): an app that raises before it answers
the startup event does not speak lifespan; that is logged once at info and
the app is served without it. A startup that reports failure is never
swallowed, in either mode. ``off``: no lifespan events at all.

The state the app fills during startup (``scope["state"]``) is copied,
shallowly, into every request's scope.
"""
import asyncio
import logging

from prefork.asgi._scope import SPEC

log = logging.getLogger("prefork.error")


class LifespanFailed(Exception):
    """Startup failed: the worker cannot serve."""


class Lifespan:
    def __init__(self, app, mode, loop):
        self.app = app
        self.mode = mode
        self.loop = loop
        self.state = {}
        self.inbox = asyncio.Queue()
        self.replies = asyncio.Queue()
        self.task = None
        self.supported = mode != "off"

    async def receive(self):
        return await self.inbox.get()

    async def send(self, message):
        if message["type"] not in ("lifespan.startup.complete", "lifespan.startup.failed",
                                   "lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            raise RuntimeError(f"unexpected lifespan message {message['type']!r}")
        await self.replies.put(message)

    async def run_app(self):
        scope = {"type": "lifespan", "asgi": SPEC, "state": self.state}
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as exc:
            await self.replies.put({"type": "prefork.app.raised", "error": exc})
            if not isinstance(exc, Exception):
                raise
        else:
            await self.replies.put({"type": "prefork.app.returned"})

    async def startup(self):
        """Run the app's startup; raises LifespanFailed if it fails."""
        if not self.supported:
            return
        self.task = self.loop.create_task(self.run_app())
        await self.inbox.put({"type": "lifespan.startup"})
        reply = await self.replies.get()
        kind = reply["type"]
        if kind == "lifespan.startup.complete":
            return
        if kind == "lifespan.startup.failed":
            raise LifespanFailed(f"the app's lifespan startup failed: {reply.get('message', '')}")
        if self.mode == "on" or kind == "prefork.app.returned":
            self.supported = False
            if self.mode == "on":
                error = reply.get("error")
                raise LifespanFailed(f"the app does not run the lifespan protocol "
                                     f"({error!r})" if error else
                                     "the app returned from its lifespan call before startup")
            log.info("the app does not speak the lifespan protocol; serving it without")
            return
        self.supported = False      # auto: it raised before answering startup
        log.info("the app does not speak the lifespan protocol (%r); serving it without",
                 reply.get("error"))

    async def shutdown(self):
        if not self.supported or self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        reply = await self.replies.get()
        if reply["type"] == "lifespan.shutdown.failed":
            log.error("the app's lifespan shutdown failed: %s", reply.get("message", ""))
        elif reply["type"] == "prefork.app.raised":
            log.error("error in the app's lifespan shutdown", exc_info=reply["error"])
