"""File import: the CSV and XLSX reports departments send, into the payout and ID-issuance streams.

A file is read into rows (`read`), its headers matched to a stream's columns (`mapping`, tolerant
of case, spacing and diacritics), each row turned into the stream's push-API item (`rows`), and the
whole file validated and written in one transaction through the stream's ingester, or rejected
with row-level errors and nothing written (`service`). The `file_import` ledger makes a second
import of the same bytes a no-op. Everything but `service` is pure.
"""
