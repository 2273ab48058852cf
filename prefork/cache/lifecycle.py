"""The master's side of the shared caches: create the mappings once, before
the first fork, and keep them (or empty the response cache) across HUP
reloads: the response cache (``--cache-size``) and the app store
(``--app-cache-size``, prefork.shared).

Workers of every generation inherit the same mappings, so a reload does not
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
                        server_name=settings.server_header or None,
                        tag_header=settings.cache_tag_header,
                        keep_tags=settings.cache_tag_keep)
    log.info("response cache: %d bytes shared by all workers", settings.cache_size)
    return cache


def open_app_store(settings, response_cache=None):
    """Map the app store of prefork.shared in the master, so every worker
    forked from now on shares it; with --app-cache-size 0, each process
    will map its own on first use (and log why)."""
    from prefork.cache._appstore import default
    default.response_cache = response_cache       # prefork.shared.purge_tag()
    if not settings.app_cache_size:
        default.off_reason = "the app cache is off (--app-cache-size 0)"
        return default
    if not default.is_open:
        default.open(settings.app_cache_size)
        log.info("app cache (prefork.shared): %d bytes of shared memory",
                 settings.app_cache_size)
    return default


def server_line(settings):
    """The Server field line hits carry (--server-header), or b""."""
    name = settings.server_header
    return b"Server: " + name.encode("latin-1") + b"\r\n" if name else b""


def reload_cache(arbiter, settings):
    """On HUP: keep the mappings; empty the response cache if asked. A new
    size needs a restart, since a mapping cannot grow under the workers that
    share it. The app store is never emptied by a reload: it holds the
    app's data, which the new code may well still use."""
    for name in ("cache_redis", "cache_redis_channel"):
        if getattr(settings, name) != getattr(arbiter.settings, name):
            log.warning("reload: a new --%s takes effect on restart", name.replace("_", "-"))
            setattr(settings, name, getattr(arbiter.settings, name))
    if settings.app_cache_size != arbiter.settings.app_cache_size:
        log.warning("reload: a new --app-cache-size takes effect on restart; keeping %d bytes",
                    arbiter.settings.app_cache_size)
        settings.app_cache_size = arbiter.settings.app_cache_size
    cache = arbiter.cache
    if cache is None:
        if settings.cache_size:
            log.warning("reload: the response cache can only be turned on by a restart")
        return
    # Hits carry the Server header of the generation serving them, like
    # the app's responses (workers forked from now on see the new line).
    cache.server_line = server_line(settings)
    cache.fill_timeout = settings.cache_lock_timeout
    cache.tag_name = settings.cache_tag_header.lower()
    cache.keep_tags = settings.cache_tag_keep
    if settings.cache_size != arbiter.settings.cache_size:
        log.warning("reload: a new --cache-size takes effect on restart; keeping %d bytes",
                    arbiter.settings.cache_size)
    if settings.cache_purge_on_reload:
        cache.clear()
        log.info("reload: response cache emptied")
