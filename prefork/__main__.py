"""``python -m prefork MODULE:APP``: the same as ``prefork-serve``."""
import sys

from prefork.cli import main

sys.exit(main())
