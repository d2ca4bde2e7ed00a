"""The version: the installed distribution's (pyproject.toml), or the source tree's when not installed."""

from importlib import metadata

try:
    __version__ = metadata.version("ganforge")
except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0.1.0"
