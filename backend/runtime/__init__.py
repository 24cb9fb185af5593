"""Background jobs: the runner (a row plus a detached worker subprocess), the job kinds (`kinds`), and job views."""
