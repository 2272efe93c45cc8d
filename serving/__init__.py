"""Domain services and serving state: between ``gnn/`` (models) and ``api/`` / ``socialrec/``.

Imports run one way: ``graph -> gnn -> serving -> {api, socialrec}``.
"""
