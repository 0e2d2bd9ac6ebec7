"""The trial database: the one Django app of iliad7.

- `models`: the tables; `migrations`: their schema, and the triggers
  (`triggers`) that make audit records, item values and signatures append-only.
- `actions`: every write (one function, one transaction, one audit record).
- `access`: every scoped read and permission check.
- `login`: sign-in with the second-factor step; `security_events`: login,
  failed login, logout and lockout into the audit trail.
- `backup`: backup and restore; `runtime`: Django start-up for the CLI and scripts.
"""
