"""A repository's transaction history: read from its segment headers into the store."""
