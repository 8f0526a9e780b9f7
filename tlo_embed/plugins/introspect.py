"""What a component imports and exports, read from its type before it is ever instantiated.

Imports are sorted into what the host provides: the tlo:host interfaces (each one capability,
refused unless granted), lumen:runtime/rt (always provided: it reaches nothing outside the
call) and WASI 0.2 (provided by wasmtime's WASI, made deterministic and closed: empty env
and args, no preopens unless an "fs:" grant, no network). Anything else cannot be linked, so
the component is refused at install.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, final

from wasmtime import component as wc

from tlo_embed.errors import CapabilityDenied, InvalidPlugin
from tlo_embed.plugins import convert
from tlo_embed.plugins._wit import (
    HOST_FUNCTIONS,
    HOST_PACKAGE,
    HOST_VERSION,
    RUNTIME_FUNCTIONS,
    RUNTIME_PACKAGE,
    RUNTIME_VERSION,
)
from tlo_embed.plugins.model import ExportInfo

_IMPORT = re.compile(r"^([a-z][a-z0-9-]*):([a-z][a-z0-9-]*)/([a-z][a-z0-9-]*)(?:@([0-9A-Za-z.+-]+))?$")
#: componentize-py exports this internal instance; it is not the plugin's API.
_HIDDEN_EXPORTS: Final = frozenset({"exports"})


def _compatible(version: str | None, supported: str) -> bool:
    """Semver compatibility as the linker applies it (0.x: same minor)."""
    if version is None:
        return True
    major, _, rest = supported.partition(".")
    minor = rest.partition(".")[0]
    parts = version.split(".")
    if len(parts) < 2 or parts[0] != major:
        return False
    return major != "0" or parts[1] == minor


@final
class ImportPlan:
    """One imported instance and how the host satisfies it.

    Attributes:
        name: the import as the component names it ("tlo:host/kv@0.1.0").
        kind: "host" (a tlo:host interface), "runtime" (lumen:runtime/rt) or "wasi".
        interface: "kv", "rt", or the WASI package ("wasi:cli").
        functions: the function names the component imports from it.
    """

    def __init__(self, name: str, kind: str, interface: str, functions: list[str]) -> None:
        self.name = name
        self.kind = kind
        self.interface = interface
        self.functions = functions


def plan_imports(comp: Any, engine: Any) -> list[ImportPlan]:
    """Classify every import of a component.

    Raises:
        InvalidPlugin: an import the host cannot provide.
    """
    plans: list[ImportPlan] = []
    for name, ext in comp.type.imports(engine).items():
        ty = ext.ty
        m = _IMPORT.match(name)
        if m is None or not isinstance(ty, wc.ComponentInstanceType):
            msg = (
                f"the component imports {name!r}, which is not an interface the host provides"
                f" (it provides {HOST_PACKAGE}/*@{HOST_VERSION}, {RUNTIME_PACKAGE}/rt and WASI 0.2)"
            )
            raise InvalidPlugin(msg)
        namespace, package, interface, version = m.group(1), m.group(2), m.group(3), m.group(4)
        functions = [
            fname for fname, fext in ty.exports(engine).items()
            if isinstance(fext.ty, wc.FuncType)
        ]
        full = f"{namespace}:{package}"
        if full == HOST_PACKAGE and interface in HOST_FUNCTIONS:
            _check_version(name, version, HOST_VERSION)
            _check_functions(name, functions, HOST_FUNCTIONS[interface])
            plans.append(ImportPlan(name, "host", interface, functions))
        elif full == RUNTIME_PACKAGE and interface in RUNTIME_FUNCTIONS:
            _check_version(name, version, RUNTIME_VERSION)
            _check_functions(name, functions, RUNTIME_FUNCTIONS[interface])
            plans.append(ImportPlan(name, "runtime", interface, functions))
        elif namespace == "wasi" and (version is None or version.startswith("0.2.")):
            plans.append(ImportPlan(name, "wasi", full, functions))
        else:
            msg = (
                f"the component imports {name!r}, which the host does not provide (it provides"
                f" {HOST_PACKAGE}/{{{', '.join(HOST_FUNCTIONS)}}}@{HOST_VERSION},"
                f" {RUNTIME_PACKAGE}/rt@{RUNTIME_VERSION} and WASI 0.2)"
            )
            raise InvalidPlugin(msg)
    return plans


def _check_version(name: str, version: str | None, supported: str) -> None:
    if not _compatible(version, supported):
        msg = f"the component imports {name!r}, but this host provides version {supported}"
        raise InvalidPlugin(msg)


def _check_functions(name: str, functions: list[str], provided: dict[str, Any]) -> None:
    for fname in functions:
        if fname not in provided:
            msg = (
                f"the component imports {name}#{fname}, which the host does not provide"
                f" (it provides {', '.join(provided)})"
            )
            raise InvalidPlugin(msg)


def requested(plans: list[ImportPlan]) -> tuple[str, ...]:
    """The capabilities a component's imports ask for, sorted."""
    out: set[str] = set()
    for plan in plans:
        if plan.kind == "host":
            out.add(plan.interface)
        elif plan.kind == "runtime":
            out.add(RUNTIME_PACKAGE)
        else:
            out.add(plan.interface)
    return tuple(sorted(out))


def check_granted(plugin: str, plans: list[ImportPlan], grants: tuple[str, ...]) -> None:
    """Refuse a component that imports a host interface it is not granted.

    Raises:
        CapabilityDenied: names the first ungranted import and the grant that allows it.
    """
    for plan in plans:
        if plan.kind == "host" and plan.interface not in grants:
            msg = (
                f"plugin {plugin!r} imports {plan.name} but is not granted {plan.interface!r};"
                f" install it with grants=[..., {plan.interface!r}] (or grant it later with"
                f" plugins.grant({plugin!r}, {plan.interface!r}))"
            )
            raise CapabilityDenied(
                msg, plugin=plugin, import_name=plan.name, capability=plan.interface
            )


def _signature(fty: Any) -> str:
    params: list[str] = []
    for pname, pty in fty.params:
        params.append(f"{pname}: {wit_type(pty)}")
    result = fty.result
    tail = "" if result is None else f" -> {wit_type(result)}"
    return f"func({', '.join(params)}){tail}"


def wit_type(ty: Any) -> str:
    """A WIT rendering of a wasmtime ValType (records and variants written inline)."""
    try:
        return convert.build(ty).wit
    except convert.Unsupported:
        if isinstance(ty, wc.OwnType):
            return "own<resource>"
        if isinstance(ty, wc.BorrowType):
            return "borrow<resource>"
        return type(ty).__name__


def exports(comp: Any, engine: Any) -> tuple[ExportInfo, ...]:
    """The functions a component exports: top-level ones by name, those of exported
    interfaces as "<interface>#<function>"; toolchain internals are left out."""
    out: list[ExportInfo] = []
    for name, ext in comp.type.exports(engine).items():
        ty = ext.ty
        if isinstance(ty, wc.FuncType):
            out.append(ExportInfo(name=name, signature=_signature(ty)))
        elif isinstance(ty, wc.ComponentInstanceType) and name not in _HIDDEN_EXPORTS:
            for fname, fext in ty.exports(engine).items():
                if isinstance(fext.ty, wc.FuncType):
                    out.append(ExportInfo(name=f"{name}#{fname}", signature=_signature(fext.ty)))
    return tuple(sorted(out, key=lambda e: e.name))


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise InvalidPlugin("the component's section table is truncated")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def custom_sections(wasm: bytes) -> dict[str, bytes]:
    """The top-level custom sections of a component binary, by name."""
    pos = 8
    out: dict[str, bytes] = {}
    while pos < len(wasm):
        section = wasm[pos]
        size, pos = _leb(wasm, pos + 1)
        end = pos + size
        if section == 0:
            length, start = _leb(wasm, pos)
            try:
                out[wasm[start:start + length].decode("utf-8")] = wasm[start + length:end]
            except UnicodeDecodeError:
                pass
        pos = end
    return out


def lumen_manifest(wasm: bytes) -> dict[str, Any] | None:
    """The `lumen:manifest` custom section as a dict, if the component has a valid one."""
    raw = custom_sections(wasm).get("lumen:manifest")
    if raw is None:
        return None
    try:
        found = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return found if isinstance(found, dict) else None
