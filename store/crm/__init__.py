"""The CRM entities and their rules: accounts, people, renewals, revenue, activity, tasks, drafts, and views."""
