"""The Admin page's widgets, one module per tab: `users` (also the admins-only gate), `audit` and `settings`.

Everything here only reads; each backend call checks that the acting user is an admin, so the page cannot show more
than its user may see, whatever the navigation offers.
"""
