"""Who uses the console: users and their password hashes, OIDC login settings, the acting user, the audit trail.

The role and permission types and the `require` check live in `backend.core.access` (the domain packages below
this one check access where they change something); this package reads logins and turns them into an `Actor`.
"""
