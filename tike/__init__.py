"""Tike: situation-centre event-stream monitor for Finnish wellbeing services counties."""

__version__ = "0.1.0"
