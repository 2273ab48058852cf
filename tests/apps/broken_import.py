"""An app module whose own import fails: a dependency is missing."""
import no_such_dependency_xyz  # noqa: F401

app = None
