"""Tike's pure logic: decoding, normalising, device supervision and the situation machine.
No Kafka, Redis or HTTP here (an import-linter contract checks it)."""
