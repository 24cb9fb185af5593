"""Background jobs: the runner (a row plus a detached worker subprocess), the registry of job kinds, and job views."""
