"""The CRM store: the service functions that own every data rule, by concern (crm, health, auth, runs),
over the database package (engine, tables, migrations), with the demo generator and file imports beside
them; errors, clock, schemas, validation and vocabulary are shared by all."""
