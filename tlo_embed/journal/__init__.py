"""The journal layer: turns, events, streams, reads, subscriptions, snapshots, branches."""
