"""Tike's command line and local stack: the top layer (docs/architecture.md)."""
