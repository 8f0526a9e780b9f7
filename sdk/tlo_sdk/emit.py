"""Component assembly (SPEC 3.1, 3.3, 3.7): component WAT around the program module, the WIT
world text, the manifest; then `wasmtime.wat2wasm` and validation with `Component`."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Final

import wasmtime
from wasmtime import component as wc

from tlo_embed.plugins import _wit

from . import types as T
from .effects import exported_types, to_kebab
from .layout import Layout
from .lower import ModuleGen
from .resolve import Globals
from .wat import wat_string

SUBSET_VERSION: Final = "0.1"
_WIT_KEYWORDS: Final = frozenset(["as", "async", "bool", "borrow", "char", "constructor", "enum", "export", "f32", "f64", "flags", "from", "func", "future", "import", "include", "interface", "list", "option", "own", "package", "record", "resource", "result", "s16", "s32", "s64", "s8", "static", "stream", "string", "tuple", "type", "u16", "u32", "u64", "u8", "use", "variant", "with", "world"])
# The component-model names of the scalar types, the same in component WAT and in WIT.
_SCALAR_NAMES: Final[dict[T.Ty, str]] = {T.INT: "s64", T.FLOAT: "f64", T.BOOL: "bool", T.STRING: "string"}

_ENGINE: wasmtime.Engine | None = None


def engine() -> wasmtime.Engine:
    """One shared engine for validation (creating engines is slow)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = wasmtime.Engine()
    return _ENGINE


def _wit_type_to_wat(w: str) -> str:
    m = re.fullmatch(r"(option|list)<(.*)>", w)
    if m:
        return f"({m.group(1)} {_wit_type_to_wat(m.group(2))})"
    return w


def _wit_name(n: str) -> str:
    return "%" + n if n in _WIT_KEYWORDS else n


class Emitter:
    def __init__(self, g: Globals, lay: Layout, mod: ModuleGen) -> None:
        self.g = g
        self.lay = lay
        self.mod = mod
        self.type_names = exported_types(g)

    # ---------------------------------------------------------------- component types

    def ctype(self, t: T.Ty) -> str:
        if t in _SCALAR_NAMES:
            return _SCALAR_NAMES[t]
        if isinstance(t, T.ListTy):
            return f"(list {self.ctype(t.elem)})"
        if isinstance(t, T.OptTy):
            return f"(option {self.ctype(t.inner)})"
        if isinstance(t, T.ResultTy):
            parts = ["result"]
            if t.ok != T.NULL:
                parts.append(self.ctype(t.ok))
            if t.err != T.NULL:
                parts.append(f"(error {self.ctype(t.err)})")
            return "(" + " ".join(parts) + ")" if len(parts) > 1 else "(result)"
        if isinstance(t, (T.RecordTy, T.EnumTy)):
            return f"$e_{t.name}"
        raise AssertionError(t)

    def wit(self, t: T.Ty) -> str:
        if t in _SCALAR_NAMES:
            return _SCALAR_NAMES[t]
        if isinstance(t, T.ListTy):
            return f"list<{self.wit(t.elem)}>"
        if isinstance(t, T.OptTy):
            return f"option<{self.wit(t.inner)}>"
        if isinstance(t, T.ResultTy):
            ok = "_" if t.ok == T.NULL else self.wit(t.ok)
            if t.err == T.NULL:
                return "result" if t.ok == T.NULL else f"result<{ok}>"
            return f"result<{ok}, {self.wit(t.err)}>"
        if isinstance(t, (T.RecordTy, T.EnumTy)):
            return _wit_name(to_kebab(t.name))
        raise AssertionError(t)

    def type_defs(self) -> list[str]:
        out = []
        taken = {e for e, _ in self.mod.exports}
        for name in self.type_names:
            k = to_kebab(name)
            while k in taken:  # a cell of the same name (see effects.check_export_names)
                k += "-type"
            taken.add(k)
            if name in self.g.records:
                fields = " ".join(f'(field "{to_kebab(f.name)}" {self.ctype(f.ty)})'
                                  for f in self.g.records[name].fields)
                out.append(f"(type $t_{name} (record {fields}))")
            else:
                en = self.g.enums[name]
                if en.has_payloads:
                    cases = " ".join(f'(case "{to_kebab(v)}"' + (f" {self.ctype(p)})" if p is not None else ")")
                                     for v, p in en.variants)
                    out.append(f"(type $t_{name} (variant {cases}))")
                else:
                    cases = " ".join(f'"{to_kebab(v)}"' for v, _ in en.variants)
                    out.append(f"(type $t_{name} (enum {cases}))")
            out.append(f'(export $e_{name} "{k}" (type $t_{name}))')
        return out

    # ---------------------------------------------------------------- assembly

    def component(self, main_wat: str, heap_base: int, pages: int, manifest: str) -> str:
        mod = self.mod
        lines = ["(component"]
        by_iface: dict[str, list[str]] = {}
        for cap in sorted(mod.tools.values(), key=lambda c: (c.interface, c.function)):
            by_iface.setdefault(cap.interface, []).append(cap.function)
        for iface, fns in by_iface.items():
            exports = []
            for fn in fns:
                params, result, _ = _wit.HOST_FUNCTIONS[iface][fn]
                ps = " ".join(f'(param "{p}" {_wit_type_to_wat(t)})' for p, t in params)
                rs = f" (result {_wit_type_to_wat(result)})" if result else ""
                exports.append(f'(export "{fn}" (func {ps}{rs}))')
            lines.append(f'  (import "{_wit.host_interface(iface)}" (instance $i_{iface} {" ".join(exports)}))')
        rt_fns = sorted(mod.runtime)
        if rt_fns:
            exports = []
            for fn in rt_fns:
                params, result, _ = _wit.RUNTIME_FUNCTIONS["rt"][fn]
                ps = " ".join(f'(param "{p}" {_wit_type_to_wat(t)})' for p, t in params)
                rs = f" (result {_wit_type_to_wat(result)})" if result else ""
                exports.append(f'(export "{fn}" (func {ps}{rs}))')
            lines.append(f'  (import "{_wit.runtime_interface("rt")}" (instance $i_rt {" ".join(exports)}))')
        lines.append(MEM_MODULE.replace("{PAGES}", str(pages)).replace("{HEAP_BASE}", str(heap_base)))
        lines.append("  (core instance $mem (instantiate $Mem))")
        lines.append('  (alias core export $mem "memory" (core memory $memory))')
        lines.append('  (alias core export $mem "cabi_realloc" (core func $realloc))')
        lines.append('  (alias core export $mem "bump" (core global $bump))')
        withs = []
        for iface, fns in by_iface.items():
            ex = []
            for fn in fns:
                lines.append(f'  (core func $l_{iface}_{fn} (canon lower (func $i_{iface} "{fn}") (memory $memory) '
                             '(realloc $realloc) string-encoding=utf8))')
                ex.append(f'(export "{fn}" (func $l_{iface}_{fn}))')
            withs.append(f'(with "{_wit.host_interface(iface)}" (instance {" ".join(ex)}))')
        if rt_fns:
            ex = []
            for fn in rt_fns:
                lines.append(f'  (core func $l_rt_{fn} (canon lower (func $i_rt "{fn}") (memory $memory) '
                             '(realloc $realloc) string-encoding=utf8))')
                ex.append(f'(export "{fn}" (func $l_rt_{fn}))')
            withs.append(f'(with "{_wit.runtime_interface("rt")}" (instance {" ".join(ex)}))')
        lines.append(main_wat)
        env = '(with "env" (instance (export "memory" (memory $memory)) (export "bump" (global $bump))))'
        lines.append(f"  (core instance $main (instantiate $Main {env} {' '.join(withs)}))")
        lines += ["  " + d for d in self.type_defs()]
        for ename, cname in mod.exports:
            info = self.g.cells[cname]
            ps = " ".join(f'(param "{to_kebab(p)}" {self.ctype(t)})' for p, t in info.params)
            rs = f" (result {self.ctype(info.ret)})" if info.ret != T.NULL else ""
            lines.append(f'  (func $f_{cname} {ps}{rs} (canon lift (core func $main "{ename}") (memory $memory) '
                         f'(realloc $realloc) string-encoding=utf8 (post-return (core func $main "cabi_post_{ename}"))))')
            lines.append(f'  (export "{ename}" (func $f_{cname}))')
        lines.append(f'  (@custom "lumen:manifest" {wat_string(manifest.encode())})')
        lines.append(")")
        return "\n".join(lines)

    def main_module(self, funcs: list[str], heap_base: int, pages: int) -> str:
        mod = self.mod
        out = ["  (core module $Main",
               f'    (import "env" "memory" (memory {pages}))',
               '    (import "env" "bump" (global $bump (mut i32)))']
        for cap in sorted(mod.tools.values(), key=lambda c: (c.interface, c.function)):
            flat_p = [ft for _, _, t in cap.params for ft in self.lay.flat(t)]
            flat_r = self.lay.flat(cap.result)
            if len(flat_r) > 1:
                flat_p.append("i32")
                flat_r = []
            sig = "".join(f" (param {x})" for x in flat_p) + "".join(f" (result {x})" for x in flat_r)
            out.append(f'    (import "{_wit.host_interface(cap.interface)}" "{cap.function}" '
                       f'(func $t_{cap.interface}_{cap.function}{sig}))')
        rt_sigs = {"abort": "(param i32 i32)", "format-f64": "(param f64 i32)", "parse-f64": "(param i32 i32 i32)"}
        rt_names = {"abort": "$abort", "format-f64": "$format_f64", "parse-f64": "$parse_f64"}
        for fn in sorted(mod.runtime):
            out.append(f'    (import "{_wit.runtime_interface("rt")}" "{fn}" (func {rt_names[fn]} {rt_sigs[fn]}))')
        if "list_append" in mod.helpers:
            out.append("    (global $app_end (mut i32) (i32.const 0))")
            out.append("    (global $app_cap (mut i32) (i32.const 0))")
        static = bytes(mod.data.buf).rstrip(b"\0")  # memory starts zeroed: trailing zeros need no bytes
        if static:
            out.append(f"    (data (i32.const 16) {wat_string(static)})")
        for fn_text in funcs:
            reset = ("i32.const 0\n  global.set $app_end\n  i32.const 0\n  global.set $app_cap"
                     if "list_append" in mod.helpers else "")
            text = fn_text.replace("{HEAP_BASE}", str(heap_base)).replace("{RESET_APPEND}", reset)
            out.append("\n".join("    " + ln for ln in text.split("\n") if ln.strip()))
        out.append("  )")
        return "\n".join(out)

    # ---------------------------------------------------------------- WIT and manifest

    def wit_text(self, package: str) -> str:
        lines = [f"package lumen:{package};", "", "world plugin {"]
        for iface in sorted({c.interface for c in self.mod.tools.values()}):
            lines.append(f"  import {_wit.host_interface(iface)};")
        if len(lines) > 3:
            lines.append("")
        for name in self.type_names:
            k = _wit_name(to_kebab(name))
            if name in self.g.records:
                lines.append(f"  record {k} {{")
                for f in self.g.records[name].fields:
                    lines.append(f"    {_wit_name(to_kebab(f.name))}: {self.wit(f.ty)},")
                lines.append("  }")
            else:
                en = self.g.enums[name]
                kind = "variant" if en.has_payloads else "enum"
                lines.append(f"  {kind} {k} {{")
                for v, p in en.variants:
                    vk = _wit_name(to_kebab(v))
                    lines.append(f"    {vk}({self.wit(p)})," if p is not None else f"    {vk},")
                lines.append("  }")
            lines.append("")
        for ename, cname in self.mod.exports:
            info = self.g.cells[cname]
            ps = ", ".join(f"{_wit_name(to_kebab(p))}: {self.wit(t)}" for p, t in info.params)
            rs = f" -> {self.wit(info.ret)}" if info.ret != T.NULL else ""
            lines.append(f"  export {_wit_name(ename)}: func({ps}){rs};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def manifest(self, file: str, source: bytes) -> dict[str, object]:
        g = self.g
        tools = []
        for t in sorted(g.tools.values(), key=lambda t: t.alias):
            if t.cap is None or not t.called:
                continue
            tools.append({"alias": t.alias, "capability": t.cap.path, "effect": t.effect,
                          "function": t.cap.function, "grants": {k: list(v) for k, v in sorted(t.grants.items())},
                          "import": t.cap.import_name})
        return {
            "effects_by_export": {e: sorted(g.cells[c].required) for e, c in self.mod.exports},
            "exports": [{"lumen_name": c, "name": e} for e, c in self.mod.exports],
            "runtime": sorted(self.mod.runtime),
            "source": {"file": file, "sha256": hashlib.sha256(source).hexdigest()},
            "subset": SUBSET_VERSION,
            "tools": tools,
        }


MEM_MODULE: Final = """  (core module $Mem
    (memory (export "memory") {PAGES})
    (global $bump (export "bump") (mut i32) (i32.const {HEAP_BASE}))
    (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
      (local $p i32) (local $end i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $p) (local.get $new_size)))
      (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
        (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.shl (memory.size) (i32.const 16))) (i32.const 16)) (i32.const 1)))
                          (i32.const -1))
                (then unreachable))))
      (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
      (global.set $bump (local.get $end))
      (local.get $p)))"""


def manifest_json(m: dict[str, object]) -> str:
    return json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def assemble(wat: str) -> bytes:
    """WAT text to component bytes, validated by compiling it with wasmtime."""
    wasm = wasmtime.wat2wasm(wat)
    wc.Component(engine(), wasm)
    return bytes(wasm)
