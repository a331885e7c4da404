"""HTTP routes, one module per resource; :mod:`arco.server.app` mounts them."""
