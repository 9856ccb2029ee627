"""Notifications: what people are told (sitting invitations and changes, certificate renewal
reminders, managers' renewal digests), kept in an outbox, emailed exactly once by `trainer
notify` (and `serve`'s timer), and listed on the recipient's dashboard."""
