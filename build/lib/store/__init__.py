"""The CRM store: models, migrations and the service functions that own every data rule."""
