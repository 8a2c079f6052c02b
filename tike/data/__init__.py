"""Reference data shipped with Tike (regions)."""
