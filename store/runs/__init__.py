"""Agent runs: leases on the accounts a cycle works through, and which process holds them."""
