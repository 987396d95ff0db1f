"""The ``twin`` command line: argument parsing, one module per command, printing."""

from twin.cli.app import main

__all__ = ["main"]
