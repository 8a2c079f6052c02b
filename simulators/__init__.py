"""Event simulators and load-test drivers."""
