"""`tlo plugin ACTION ...`: install, inspect, call and manage WebAssembly plugins; build Lumen."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Final

import tlo_embed
from tlo_embed.cli import output
from tlo_embed.errors import InvalidPlugin, caused_by
from tlo_embed.plugins.model import HOST_CAPABILITIES
from tlo_embed.cli.command import Command, CommandError, Example

#: The host interfaces of wasm/wit/host.wit; each is one grant.
CAPABILITIES: Final = ("log", "kv", "journal", "clock", "random")
_GRANT_HELP: Final = (f"a capability: {', '.join(CAPABILITIES)}, or fs:DIR (WASI read-only "
                      "access to host directory DIR) or fs-rw:DIR")


def _json_argument(text: str) -> Any:
    """An argparse type: one JSON value (`'{"kind": "invoice"}'`, `3`, `'"text"'`)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not JSON ({e.msg} at column {e.colno}); quote a string as "
            "'\"text\"'") from None


def _file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")


def _file_and_plugin(parser: argparse.ArgumentParser) -> None:
    _file(parser)
    parser.add_argument("name", metavar="NAME", help="the plugin")


def _limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fuel", metavar="N", type=int,
                        help="wasm instructions (roughly) a call may run; default: the host's")
    parser.add_argument("--memory", metavar="SIZE",
                        help='linear memory of the plugin\'s instance, e.g. "32MiB"; default: the '
                             "host's")
    parser.add_argument("--timeout", metavar="S", type=float,
                        help="wall-clock seconds a call may take; default: the host's")


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION",
                                    required=True)

    install = actions.add_parser(
        "install", help="install a component into a .tlo file",
        description="Validate a WebAssembly component, check that every tlo:host interface "
                    "it imports is granted (--grant), and store it in the file with a "
                    "precompiled copy, in one turn. WASM is a component binary, or component "
                    "WAT text if it ends in .wat. The plugin's name is --name, else the "
                    "file's name without its extensions. Installing over an existing plugin "
                    "needs --upgrade; its grants and limits are kept unless given again.")
    _file(install)
    install.add_argument("component", metavar="WASM", help="the component (.wasm or .wat)")
    install.add_argument("--name", metavar="NAME", help="the plugin's name")
    install.add_argument("--grant", metavar="CAP", action="append",
                         help=f"grant {_GRANT_HELP}; repeat for several")
    _limits(install)
    install.add_argument("--upgrade", action="store_true",
                         help="replace an installed plugin of the same name (a new version)")

    listing = actions.add_parser(
        "list", help="list the installed plugins",
        description="List the installed plugins: name, version, grants, when installed, "
                    "exports. Nothing is written.")
    _file(listing)
    listing.add_argument("--json", action="store_true",
                         help="print JSON Lines: one object per plugin (as `show --json`)")

    show = actions.add_parser(
        "show", help="show a plugin's exports, capabilities, grants and limits",
        description="Show one plugin: its exports as WIT signatures, the capabilities it "
                    "requests (its tlo:host imports) and those granted, what the host "
                    "provides it without a grant (the WASI packages and lumen:runtime it "
                    "imports: they need no grant and cannot be granted), its limits, "
                    "version and sha256. Nothing is written.")
    _file_and_plugin(show)
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.add_argument("--log", action="store_true",
                      help="also print what its recorded calls logged, oldest first (a call "
                           "is recorded, with its log lines, when it wrote kv or events, ran "
                           "in a turn, or was made with record=True; other calls' lines are "
                           "only shown by the process that made them)")

    call = actions.add_parser(
        "call", help="call a plugin's export and print the result as JSON",
        description="Call export EXPORT of plugin NAME with the arguments given as JSON "
                    "values, one per parameter (records as objects with the WIT field names, "
                    "lists as arrays, enums as strings; docs/plugins.md lists the mapping), "
                    "and print its result as one line of JSON. What the plugin logged or "
                    "printed during the call goes to stderr, one line each. A call that "
                    "writes kv or appends events records them in one turn, with the call; a "
                    "call that fails keeps nothing.")
    _file_and_plugin(call)
    call.add_argument("export", metavar="EXPORT", help="the export's name, e.g. route")
    call.add_argument("args", metavar="ARG", nargs="*", type=_json_argument,
                      help="an argument as JSON, e.g. '{\"kind\": \"invoice\"}' or 3")

    grant = actions.add_parser(
        "grant", help="grant host interfaces to a plugin",
        description="Grant capabilities to an installed plugin, in one turn (the journal "
                    "records who granted what, when).")
    _file_and_plugin(grant)
    grant.add_argument("caps", metavar="CAP", nargs="+", help=_GRANT_HELP)

    revoke = actions.add_parser(
        "revoke", help="revoke host interfaces from a plugin",
        description="Revoke capabilities from an installed plugin, in one turn. A plugin "
                    "that imports a revoked interface fails when it calls it.")
    _file_and_plugin(revoke)
    revoke.add_argument("caps", metavar="CAP", nargs="+", help=_GRANT_HELP)

    remove = actions.add_parser(
        "remove", help="remove a plugin",
        description="Remove an installed plugin, in one turn. Its history (install, grants, "
                    "kv writes) stays in the journal.")
    _file_and_plugin(remove)

    build = actions.add_parser(
        "build", help="compile a Lumen source into a component",
        description="Compile a Lumen plugin (.lm, or Markdown with ```lumen blocks: .lm.md) "
                    "into a WebAssembly component with the plugin SDK (tlo_sdk); see "
                    "docs/lumen.md. Writes OUT (default: SOURCE without its extensions, plus "
                    ".wasm). --wit prints the component's WIT world and --wat its WAT text "
                    "instead of writing a file. Compile errors are printed as "
                    "file:line:col diagnostics on stderr, with exit status 1.")
    build.add_argument("source", metavar="SOURCE", help="a Lumen source file")
    build.add_argument("-o", "--output", metavar="OUT", help="the component file to write")
    shown = build.add_mutually_exclusive_group()
    shown.add_argument("--wit", action="store_true", help="print the WIT world, write nothing")
    shown.add_argument("--wat", action="store_true", help="print the WAT text, write nothing")


def run(args: argparse.Namespace) -> int:
    action: str = args.action
    if action == "build":
        return _build(args)
    if action == "install":
        return _install(args)
    if action == "list":
        return _list(args)
    if action == "show":
        return _show(args)
    if action == "call":
        return _call(args)
    if action in ("grant", "revoke"):
        return _grant(args)
    return _remove(args)


# -- install ------------------------------------------------------------------------------


def component_bytes(path: str) -> bytes:
    """The component in file `path`: its bytes, or WAT text assembled when it ends in .wat.

    Raises:
        CommandError: the file cannot be read.
        InvalidPlugin: its WAT text does not assemble (the status of an invalid .wasm).
    """
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror or e}") from None
    if source.suffix != ".wat":
        return data
    import wasmtime  # only WAT needs it here; the plugin host imports it anyway

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise caused_by(InvalidPlugin(f"{path} is not valid WAT: it is not UTF-8 text "
                                      f"({e.reason} at byte {e.start})"), e)
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as e:
        # wasmtime's parse error, its "<anon>" source named: "expected a string
        #      --> bad.wat:1:28" plus the line with a caret.
        detail = str(e).strip().replace("<anon>", path)
        raise caused_by(InvalidPlugin(f"{path} is not valid WAT: {detail}"), e)


def default_name(path: str) -> str:
    """A plugin name from a file name: "build/router.wasm" -> "router"."""
    return Path(path).name.split(".")[0]


def _install(args: argparse.Namespace) -> int:
    data = component_bytes(args.component)
    name = args.name or default_name(args.component)
    options: dict[str, Any] = {"name": name, "grants": list(dict.fromkeys(args.grant or ())),
                               "upgrade": args.upgrade}
    with tlo_embed.open(args.file, create=False) as db:
        if args.upgrade:
            # An upgrade keeps what the installed version had unless given again.
            current = next((p for p in db.plugins.list() if p.name == name), None)
            if current is not None:
                if args.grant is None:
                    options["grants"] = list(current.grants)
                options.update(fuel=current.fuel, memory=current.memory,
                               timeout=current.timeout)
        for limit in ("fuel", "memory", "timeout"):
            if getattr(args, limit) is not None:
                options[limit] = getattr(args, limit)
        info = db.plugins.install(data, **options)
    verb = "upgraded" if args.upgrade and info.version > 1 else "installed"
    print(f"{verb} plugin {info.name} version {info.version} "
          f"({len(info.exports)} exports, grants: {', '.join(info.grants) or 'none'})")
    return 0


# -- list and show ------------------------------------------------------------------------


def granted_by_grant(requested: Any) -> tuple[str, ...]:
    """The requested capabilities that need a grant: the tlo:host interfaces."""
    return tuple(c for c in requested if c in HOST_CAPABILITIES)


def provided_by_host(requested: Any) -> tuple[str, ...]:
    """The imports the host provides to every plugin, without (and beyond) any grant:
    lumen:runtime and the WASI packages."""
    return tuple(c for c in requested if c not in HOST_CAPABILITIES)


def plugin_json(info: Any) -> dict[str, Any]:
    """The JSON object `tlo plugin show --json` prints (and `list --json`, one per line)."""
    return {
        "name": info.name,
        "version": info.version,
        "sha256": info.sha256,
        "exports": [{"name": e.name, "signature": e.signature} for e in info.exports],
        "requests": list(granted_by_grant(info.requested)),
        "provided": list(provided_by_host(info.requested)),
        "grants": list(info.grants),
        "limits": {"fuel": info.fuel, "memory": info.memory, "timeout": info.timeout},
        "installed_at": output.iso_time(info.installed_at_us),
        "installed_at_us": info.installed_at_us,
    }


def _list(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, readonly=True) as db:
        plugins = db.plugins.list()
    if args.json:
        for info in plugins:
            print(output.json_text(plugin_json(info)))
        return 0
    if not plugins:
        print("(no plugins)")
        return 0
    print("\n".join(output.table(
        ("name", "version", "grants", "installed", "exports"),
        [(p.name, p.version, ",".join(p.grants) or "-",
          output.iso_time(p.installed_at_us, timespec="seconds"),
          ", ".join(e.name for e in p.exports)) for p in plugins],
    )))
    return 0


def _limits_text(info: Any) -> str:
    return (f"fuel {info.fuel:,}, memory {output.human_size(info.memory)}, "
            f"timeout {info.timeout:g} s")


def _show(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, readonly=True) as db:
        info = db.plugins.info(args.name)
        calls = db.plugins.calls(args.name) if args.log else []
    if args.json:
        shown = plugin_json(info)
        if args.log:
            shown["log"] = [
                {"seq": call.seq, "export": call.export, "at": output.iso_time(line.at_us),
                 "level": line.level, "message": line.message}
                for call in calls for line in call.log
            ]
        print(output.json_text(shown))
        return 0
    requests = granted_by_grant(info.requested)
    missing = [c for c in requests if c not in info.grants]
    grants = ", ".join(info.grants) or "none"
    if missing:
        grants += f"  (requested but not granted: {', '.join(missing)})"
    provided = provided_by_host(info.requested)
    print("\n".join(output.fields([
        ("plugin", info.name),
        ("version", info.version),
        ("sha256", info.sha256),
        ("installed", output.iso_time(info.installed_at_us, timespec="seconds")),
        ("requests", ", ".join(requests) or "nothing (no tlo:host imports)"),
        ("provided", (", ".join(provided) + " (by the host, no grant needed)") if provided
         else "none"),
        ("grants", grants),
        ("limits", _limits_text(info)),
    ])))
    print("exports:")
    for export in info.exports:
        print(f"  {export.name}: {export.signature}")
    if args.log:
        print("log of recorded calls:")
        shown_any = False
        for call in calls:
            for line in call.log:
                shown_any = True
                print(f"  {output.iso_time(line.at_us, timespec='seconds')} seq {call.seq}"
                      f" {call.export}: [{line.level}] {line.message}")
            if call.log_dropped:
                print(f"  ({call.log_dropped} more line(s) of seq {call.seq} not recorded)")
        if not shown_any:
            print("  (none)")
    return 0


# -- call, grant, revoke, remove ------------------------------------------------------------


def _call(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, create=False) as db:
        try:
            result = db.plugins.call(args.name, args.export, *args.args)
        finally:
            # The log is kept in memory by the process that made the calls: this one.
            for line in db.plugins.log(args.name):
                print(f"{args.name}: [{line.level}] {line.message}", file=sys.stderr)
    print(output.json_text(output.json_safe(result)))
    return 0


def _grant(args: argparse.Namespace) -> int:
    caps = list(dict.fromkeys(args.caps))
    with tlo_embed.open(args.file, create=False) as db:
        for cap in caps:
            if args.action == "grant":
                db.plugins.grant(args.name, cap)
            else:
                db.plugins.revoke(args.name, cap)
        info = db.plugins.info(args.name)
    done = "granted" if args.action == "grant" else "revoked"
    print(f"{done} {', '.join(caps)}; plugin {info.name} now has: "
          f"{', '.join(info.grants) or 'no grants'}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, create=False) as db:
        db.plugins.remove(args.name)
    print(f"removed plugin {args.name}")
    return 0


# -- build --------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    try:
        # The SDK lives in sdk/ and is not part of the engine (which never imports it); the
        # `tlo` script puts it on the path.
        sdk: Any = importlib.import_module("tlo_sdk")
    except ImportError as e:
        raise CommandError(f"the plugin SDK (tlo_sdk) cannot be imported: {e}; put sdk/ on "
                           "PYTHONPATH (the `tlo` script of dev.py does)") from None
    source = Path(args.source)
    if not source.is_file():
        raise CommandError(f"no such Lumen source: {args.source}")
    try:
        compiled = sdk.compile_lumen(source)
    except sdk.LumenCompileError as e:
        print(e.format(), file=sys.stderr)
        return 1
    if compiled.diagnostics:  # warnings: the component was built, but say what was noticed
        lines = source.read_text(encoding="utf-8").splitlines()
        for warning in compiled.diagnostics:
            print(warning.format(lines), file=sys.stderr)
    if args.wit:
        sys.stdout.write(_line(compiled.wit))
        return 0
    if args.wat:
        sys.stdout.write(_line(compiled.wat))
        return 0
    out = Path(args.output) if args.output else source.with_name(default_name(args.source)
                                                                 + ".wasm")
    out.write_bytes(compiled.wasm)
    exports = ", ".join(str(e.get("name")) for e in compiled.manifest.get("exports", [])
                        if isinstance(e, dict)) or "none"
    print(f"wrote {out} ({output.human_size(len(compiled.wasm))}; exports: {exports})")
    return 0


def _line(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


COMMAND = Command(
    name="plugin",
    summary="install, inspect, call and manage WebAssembly plugins; build Lumen plugins",
    description=(
        "Manage the WebAssembly component plugins stored in a .tlo file. `install` checks "
        "and stores a component with its grants and limits; `list` and `show` describe "
        "installed plugins (`show` prints each export as a WIT signature and the "
        "capabilities requested and granted); `call` runs an export with JSON arguments and "
        "prints the JSON result; `grant` and `revoke` change capabilities; `remove` removes "
        "a plugin. Every change is a turn in the journal. `build` compiles a Lumen source "
        "into a component (it needs no .tlo file). The capabilities are the tlo:host "
        f"interfaces: {', '.join(CAPABILITIES)}. docs/plugins.md is the plugin author's "
        "guide; `tlo plugin ACTION --help` describes each action."
    ),
    examples=(
        Example(argv=("plugin", "build", "kv_counter.lm.md", "-o", "counter.wasm"),
                says="compile a Lumen plugin into counter.wasm"),
        Example(argv=("plugin", "install", "app.tlo", "counter.wasm", "--grant", "kv",
                      "--fuel", "10000000", "--memory", "16MiB"),
                says="install it as plugin counter, granted kv, with limits"),
        Example(argv=("plugin", "install", "app.tlo", "adder.wat", "--grant", "clock"),
                says="install a hand-written WAT component as plugin adder"),
        Example(argv=("plugin", "list", "app.tlo"), says="the installed plugins"),
        Example(argv=("plugin", "show", "app.tlo", "adder"),
                says="its exports as WIT, its capabilities, grants and limits"),
        Example(argv=("plugin", "show", "app.tlo", "counter", "--log"),
                says="also what its recorded calls logged"),
        Example(argv=("plugin", "call", "app.tlo", "adder", "add", "2", "40"),
                says="call export add with two JSON arguments; prints 42"),
        Example(argv=("plugin", "revoke", "app.tlo", "adder", "clock"),
                says="take the clock capability away"),
        Example(argv=("plugin", "remove", "app.tlo", "counter"),
                says="remove plugin counter (its history stays in the journal)"),
        Example(argv=("plugin", "build", "kv_counter.lm.md", "--wit"),
                says="print the WIT world the Lumen source compiles to"),
    ),
    exit_statuses=(
        (0, "done"),
        (1, "`build` found errors in the Lumen source (diagnostics on stderr)"),
        (51, "no plugin of that name, or no such export (PluginNotFound)"),
        (52, ("not a WebAssembly component (or .wat text that does not assemble), or it "
              "imports what the host lacks (InvalidPlugin)")),
        (53, ("the component imports, or called, an interface it was not granted; the message "
              "names the --grant or `tlo plugin grant` that allows it (CapabilityDenied)")),
        (54, "an argument does not match the export's parameter type (PluginArgumentError)"),
        (55, "the call trapped: fuel, timeout, memory, a guest error (PluginTrap)"),
    ),
    configure=configure,
    run=run,
)
