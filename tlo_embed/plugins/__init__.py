"""Sandboxed WebAssembly component plugins (see docs/plugins.md)."""
