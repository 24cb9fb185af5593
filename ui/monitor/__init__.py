"""Monitor page helpers: the latest report with badges, history charts, drill-down, report and traffic actions."""
