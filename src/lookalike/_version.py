"""The version of lookalike, at the bottom of the import layers (the index and the CLI record it)."""

__version__ = "0.1.0"
