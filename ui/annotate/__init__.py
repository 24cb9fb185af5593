"""Annotate page helpers: the box canvas, the review-queue picker and the save panel."""
