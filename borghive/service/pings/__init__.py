"""Client reports through the Healthchecks ping API: tokens and URLs (tokens, urls), the
ping routes (routes, pure), what a ping becomes (records) and the store writer (writer)."""
