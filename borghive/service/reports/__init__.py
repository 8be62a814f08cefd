"""Client reports: what the clients' backup jobs said about their runs (borghive pings
writes them), as ``repo reports`` and ``repo show`` present them."""
