"""The store layer: apsw connections, the schema and its migrations, write transactions.

The store knows bytes and SQL; it knows nothing of events or CBOR.
"""
