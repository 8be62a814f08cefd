"""Use cases of people: users and their SSH keys."""
