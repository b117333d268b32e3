"""HTTP routes, one module per resource; each route names the permission it needs."""
