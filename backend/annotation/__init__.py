"""Annotation: the review queue Annotate reads, box edits saved as new immutable dataset versions with a
box-level changelog (and the refusal when someone else changed the same image first), version diffs, label-error
suspects scored by cleanlab, and pre-labels from the serving model."""
