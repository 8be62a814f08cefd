"""Use cases of alerts: channels, what is due (pure planning), the messages, and checking."""
