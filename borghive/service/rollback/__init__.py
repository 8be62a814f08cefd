"""Rolling a repository back to an earlier transaction by moving the later segments
aside (a quarantine on the same filesystem), and putting them back."""
