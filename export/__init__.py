"""vlmprune's offline builder: adapters, task suite, metrics, evaluation, search, export."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vlmprune")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
