"""The top layer: the catalog of job kinds (imports each domain's tasks), Home's overview and first-start set-up."""
