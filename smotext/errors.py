"""Errors raised for bad user input; the CLI turns them into one line and exit code 2."""

from __future__ import annotations


class SmotextError(Exception):
    """A problem with the user's input or configuration (not a bug).

    ``params`` names the library parameters the message is about (``k_neighbors``); the CLI
    rewrites those names into its own flags (``--k-neighbors``), so library messages never
    speak in flags.
    """

    def __init__(self, message: str, *, params: tuple[str, ...] | str = ()):
        super().__init__(message)
        self.params = (params,) if isinstance(params, str) else tuple(params)


class SmotextWarning(UserWarning):
    """Something the user should know that does not stop the run (a generation shortfall, a risky setting)."""
