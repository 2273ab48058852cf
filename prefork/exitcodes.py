"""Named exit codes of the master and its workers."""

OK = 0
FAILURE = 1          # an unexpected error
USAGE = 2            # a bad flag, environment value or config value
BIND = 3             # a listening address could not be bound
APP_LOAD = 4         # the app could not be imported; the server stops instead of respawning
