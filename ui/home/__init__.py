"""The Home page's widgets: one card per dataset with its latest version's size and validation verdict."""
