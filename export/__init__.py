"""vlmprune's offline builder: adapters, task suite, metrics, evaluation, search, export."""

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _source_version() -> str:
    """The version in the source tree's pyproject.toml, marked '+source' (not installed)."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
    except OSError:
        found = None
    return f"{found.group(1) if found else '0.0.0'}+source"


try:
    __version__ = version("vlmprune")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = _source_version()
