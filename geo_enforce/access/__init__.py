"""Who may do what: users, roles, API tokens and the route-policy table."""
