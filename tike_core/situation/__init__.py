"""Live situation state of a region partition: needs, dispatches, teams and KPIs.

Pure: the worker feeds it inputs and the clock, and publishes the journal records it returns.
"""
