"""Parley: a self-hostable enterprise chat."""

__version__ = "0.1.0"
