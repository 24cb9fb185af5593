"""Thin command-line entry points (`python -m jobs.X`) over backend functions."""
