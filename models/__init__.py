"""Tables, engine and data functions. Importing the package registers every table on SQLModel.metadata."""

from models import calls, contact_log, conversations, inbound, kv, outbox, people  # noqa: F401
