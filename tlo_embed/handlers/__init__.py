"""Event-sourced handlers: commands in, events out (`process`), state by `fold`."""
