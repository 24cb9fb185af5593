"""A corpus of hostile inputs, generated (not stored), run against every entry point."""
