"""The tamper-evident audit trail.

`iliad7.audit.chain` is the pure part (canonical JSON, SHA-256 chaining and
verification over plain rows, no Django); `iliad7.audit.trail` appends to and
verifies the chain stored in the database.
"""
