"""Signals the channels app sends; fulfillment's tickets and alerts listen to them."""

from django.dispatch import Signal

# A channel was paused (auth failure, or too many consecutive failures).
# Sent after commit. kwargs: channel_id, code, name, reason
channel_paused = Signal()
