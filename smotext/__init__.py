"""smotext: privacy-auditing synthetic text. The stages live in `synth` (generate), `audit` and `reports`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smotext")
except PackageNotFoundError:  # running from a source tree that isn't installed
    __version__ = "0.0.0+local"
