"""Senders that drain the store's outboxes: signed vendor webhooks (webhooks.py) and customer notifications on
the ``notifications`` topic (notifications.py). What to send is decided when an event is applied to the store;
these only deliver it, and retry until it is delivered."""

__all__: list[str] = []
