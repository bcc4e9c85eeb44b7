"""The top layer: the command line and the report.

``geomrelax.app`` sits above every other package of the project: it imports the core (the rest of
``geomrelax``), ``synthetic``, ``proofs_check`` and ``figures``; nothing imports it. See ARCHITECTURE.md.
"""
