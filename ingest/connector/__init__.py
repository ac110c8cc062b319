"""Polling connectors: pull a source's REST API by a "changed since" cursor into a stream.

`config` (what a connector is, and JSON paths), `backoff` (retry delays, Retry-After), `fetch`
(one page over HTTP with retries), `store` (the connector tables), `poller` (pages → the stream's
ingester, the cursor stored in the page's own transaction) and `runner` (the `ioc connectors`
process loop). The pure parts (`config`, `backoff`) take no clock and do no I/O.
"""
