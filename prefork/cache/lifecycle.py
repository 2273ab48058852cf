"""The master's side of the response cache: create the shared mapping once,
before the first fork, and keep it (or empty it) across HUP reloads.

Workers of every generation inherit the same mapping, so a reload does not
start with a cold cache unless ``--cache-purge-on-reload`` asks for it.
"""
import logging

log = logging.getLogger("prefork.error")


def open_shared_cache(settings):
    """A SharedCache for ``--cache-size``, or None when the cache is off."""
    if not settings.cache_size:
        return None
    from prefork.cache._lookup import SharedCache
    # A fill marker lasts the lock timeout: past it, waiters give up on that
    # fill and the next miss may start another (nginx's proxy_cache_lock_age).
    cache = SharedCache(settings.cache_size, settings.cache_max_entry,
                        fill_timeout=settings.cache_lock_timeout,
                        x_cache=settings.cache_x_header,
                        server_name=settings.server_header or None)
    log.info("response cache: %d bytes shared by all workers", settings.cache_size)
    return cache


def server_line(settings):
    """The Server field line hits carry (--server-header), or b""."""
    name = settings.server_header
    return b"Server: " + name.encode("latin-1") + b"\r\n" if name else b""


def reload_cache(arbiter, settings):
    """On HUP: keep the mapping; empty it if asked. A new size needs a restart,
    since the mapping cannot grow under the workers that share it."""
    cache = arbiter.cache
    if cache is None:
        if settings.cache_size:
            log.warning("reload: the response cache can only be turned on by a restart")
        return
    # Hits carry the Server header of the generation serving them, like
    # the app's responses (workers forked from now on see the new line).
    cache.server_line = server_line(settings)
    cache.fill_timeout = settings.cache_lock_timeout
    if settings.cache_size != arbiter.settings.cache_size:
        log.warning("reload: a new --cache-size takes effect on restart; keeping %d bytes",
                    arbiter.settings.cache_size)
    if settings.cache_purge_on_reload:
        cache.clear()
        log.info("reload: response cache emptied")
