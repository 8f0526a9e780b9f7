"""The plugin layer's projections: `plugins` and `plugin_kv`, folded from engine events.

`PluginsApplier` runs in the turn of every `$plugins` event (install, upgrade, grant, revoke,
remove) and every `$plugin-<name>` event (kv writes; call records change no table), and
again over the whole journal in `tlo check`. The wasm blobs and precompiled artifacts
(`plugin_blobs`, `plugin_artifacts`) are content addressed by sha256, written beside the
install turn and never derived from events, so they are not projections and `check` does not
compare them: an event names its blob by sha256, and the blob is the same whatever replays.
"""

from __future__ import annotations

from typing import Any, Final, final

import apsw

from tlo_embed.codec.cbor import dumps
from tlo_embed.journal.records import RecordedEvent
from tlo_embed.plugins import model

_TABLES: Final = ("plugins", "plugin_kv")


@final
class PluginsApplier:
    """Applies plugin events to the plugin tables."""

    @property
    def name(self) -> str:
        """A short name for reports."""
        return "plugins"

    @property
    def stream_prefix(self) -> str:
        """`$plugins` and every `$plugin-<name>` stream."""
        return "$plugin"

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables this applier owns."""
        return _TABLES

    def apply(self, conn: apsw.Connection, event: RecordedEvent) -> None:
        """Fold one event into the tables."""
        stream = event.stream
        if stream == model.PLUGINS_STREAM:
            self._lifecycle(conn, event)
        elif stream.startswith(model.PLUGIN_STREAM_PREFIX):
            self._state(conn, event, stream[len(model.PLUGIN_STREAM_PREFIX):])

    def _lifecycle(self, conn: apsw.Connection, event: RecordedEvent) -> None:
        data: dict[str, Any] = event.data
        kind = event.type
        branch = event.branch
        if kind in (model.PLUGIN_INSTALLED, model.PLUGIN_UPGRADED):
            conn.execute(
                "INSERT INTO plugins (branch, name, version, sha256, exports, requested, grants,"
                " fuel, memory, timeout, manifest, installed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?, ?, ?) ON CONFLICT (branch, name) DO UPDATE SET version ="
                " excluded.version, sha256 = excluded.sha256, exports = excluded.exports,"
                " requested = excluded.requested, grants = excluded.grants, fuel ="
                " excluded.fuel, memory = excluded.memory, timeout = excluded.timeout,"
                " manifest = excluded.manifest, installed_at = excluded.installed_at",
                (branch, data["name"], data["version"], data["sha256"], dumps(data["exports"]),
                 dumps(data["requested"]), dumps(data["grants"]), data["fuel"], data["memory"],
                 float(data["timeout"]),
                 None if data.get("manifest") is None else dumps(data["manifest"]),
                 event.recorded_at_us),
            )
        elif kind in (model.PLUGIN_GRANTED, model.PLUGIN_REVOKED):
            conn.execute(
                "UPDATE plugins SET grants = ? WHERE branch = ? AND name = ?",
                (dumps(data["grants"]), branch, data["name"]),
            )
        elif kind == model.PLUGIN_REMOVED:
            conn.execute(
                "DELETE FROM plugins WHERE branch = ? AND name = ?", (branch, data["name"])
            )
            conn.execute(
                "DELETE FROM plugin_kv WHERE branch = ? AND plugin = ?", (branch, data["name"])
            )

    def _state(self, conn: apsw.Connection, event: RecordedEvent, plugin: str) -> None:
        kind = event.type
        if kind == model.KV_PUT:
            data: dict[str, Any] = event.data
            conn.execute(
                "INSERT INTO plugin_kv (branch, plugin, key, value) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (branch, plugin, key) DO UPDATE SET value = excluded.value",
                (event.branch, plugin, data["key"], data["value"]),
            )
        elif kind == model.KV_DELETED:
            conn.execute(
                "DELETE FROM plugin_kv WHERE branch = ? AND plugin = ? AND key = ?",
                (event.branch, plugin, event.data["key"]),
            )
