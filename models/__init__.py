"""Tables, engine and data functions. Importing the package registers every table on SQLModel.metadata."""

from models import (  # noqa: F401
    activities,
    audit,
    auth,
    calls,
    contact_log,
    conversations,
    dashboard,
    inbound,
    kv,
    lease,
    outbox,
    people,
    programme,
    schedules,
)
