"""Alerts that reach a person: the messages, the webhook they are posted to, and the daily
deadline by which a source's day must be loaded. No Dagster imports (the sensor that reads the
instance is `orchestration.alerts`)."""
