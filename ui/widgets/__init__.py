"""Widgets every page shares: the console shell and roles, backend calls with plain errors, time text, the live job
card and panel, chart and table sizing, and how a dataset version's quality status looks.

Page packages (`ui.datasets`, `ui.train`, `ui.detect`, ...) import from here and never from each other.
"""
