"""Errors raised for bad user input; the CLI turns them into one line and exit code 2."""


class SmotextError(Exception):
    """A problem with the user's input or configuration (not a bug)."""
