from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taskhook-client")
except PackageNotFoundError:  # run from a source tree without installing
    __version__ = "0+unknown"

USER_AGENT = f"taskhook-client/{__version__}"
