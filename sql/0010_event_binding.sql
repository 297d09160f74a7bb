-- One database holds one event. Gates, counters, presence, orders, units, incidents, alerts and
-- sync versions of an event live in its own database, so a command server serving event B shows
-- nothing of event A (the demo, or last week's match). The first server or CLI command that
-- touches a database binds it to its venue's event; any later use for another event is refused
-- (command/db/binding.py). The embedded server keeps one database per event (shell/runtime.py).

CREATE TABLE event_binding (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    event_id    text NOT NULL,
    bound_at    timestamptz NOT NULL DEFAULT now()
);
