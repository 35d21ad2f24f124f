"""Who may act: users, principals and their ownership rules, API tokens, and the audit trail of every write."""
