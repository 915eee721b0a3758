"""Notifications to the people who fix the equipment (issue #15): events, audiences' rules,
rendering in Russian and English, a durable outbox per channel, e-mail and Telegram."""
