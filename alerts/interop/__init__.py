"""Interop with the Prometheus ecosystem: alerts posted in Alertmanager's API v2 format."""
