"""An ASGI worker: the asyncio loop, the lifespan, and prefork's service
hosted inside the loop (prefork/asgi/loop.py). Called by the worker
(prefork/worker/process.py) once it knows the app speaks ASGI."""
import asyncio
import logging
import time

from prefork import exitcodes, hooks
from prefork.asgi._connection import ASGIApp, ASGIConnection
from prefork.asgi._scope import ScopeBuilder
from prefork.asgi.lifespan import Lifespan, LifespanFailed
from prefork.asgi.loop import AsyncioHost, new_event_loop
from prefork.worker._service import HTTPService

log = logging.getLogger("prefork.error")


def serve_asgi(worker):
    """Serve until told to stop; returns the exit code."""
    settings = worker.settings
    if settings.threads > 1:
        log.warning("--threads applies to WSGI apps; this ASGI app runs on the event loop")
    try:
        aloop = new_event_loop(settings.loop)
    except ImportError:
        log.error("--loop uvloop: uvloop is not installed (pip install 'prefork[uvloop]')")
        return exitcodes.APP_LOAD
    asyncio.set_event_loop(aloop)
    lifespan = Lifespan(worker.app, settings.lifespan, aloop)
    try:
        aloop.run_until_complete(lifespan.startup())
    except LifespanFailed as exc:
        log.error("%s", exc)
        return exitcodes.APP_LOAD
    hosted = {}

    def make_service(loop):
        host = AsyncioHost(loop, aloop)
        scopes = ScopeBuilder(settings)
        if lifespan.supported:
            scopes.state = lifespan.state
        websocket = None
        if settings.ws:
            from prefork.asgi._websocket import WebSockets
            websocket = WebSockets(settings)
        app = ASGIApp(worker.app, scopes, aloop, aloop.start_task, host.wake,
                      aloop.resolve_now, websocket)
        hosted.update(host=host, app=app)
        return HTTPService(loop, app, settings, ASGIConnection,
                           multiprocess=worker.multiprocess, asgi=True)

    worker.start_serving(make_service)
    worker.asgi = hosted["app"]
    hosted["host"].run()
    worker.service.close_all()
    worker.asgi.cancel_all()
    stop_app(worker, aloop, lifespan)
    hooks.call(settings, "worker_exit", worker)
    return exitcodes.OK


def stop_app(worker, aloop, lifespan):
    """The lifespan shutdown, within what is left of the graceful timeout;
    then every task still running is cancelled."""
    left = worker.settings.graceful_timeout
    if worker.drain_deadline is not None:
        left = max(0.5, worker.drain_deadline - time.monotonic())
    try:
        aloop.run_until_complete(asyncio.wait_for(lifespan.shutdown(), left))
    except asyncio.TimeoutError:
        log.error("the app's lifespan shutdown took longer than the graceful timeout")
    except Exception:
        log.exception("error in the app's lifespan shutdown")
    pending = [task for task in asyncio.all_tasks(aloop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        aloop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    aloop.close()
