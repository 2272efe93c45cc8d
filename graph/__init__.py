"""socialrec: graph store, export and analytics (users, items, friendships, interactions)."""
