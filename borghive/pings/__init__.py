"""Adapter: the HTTP server of ``borghive pings`` (asyncio and h11) and the daemon around it
(the queue to the store, its spool, signals). The ping rules live in service/pings/."""
