"""Tables, engine and data functions. Importing the package registers every table on SQLModel.metadata."""

from models import audit, auth, calls, contact_log, conversations, dashboard, inbound, kv, outbox, people  # noqa: F401
