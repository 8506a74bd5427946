"""`privacy-gateway`: the command line (main.py) and its sub-commands."""

from gateway.cli.main import main as main

__all__ = ["main"]
