"""Routing rules: the engine and the rule files. Imports nothing from Faust."""
