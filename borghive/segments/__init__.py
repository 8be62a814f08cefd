"""borg 1.x segment logs read without the key: entry headers only, payloads seeked over."""
