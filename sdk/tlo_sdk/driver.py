"""The compiler driver: extract -> lex -> parse -> resolve -> check -> lower -> emit.

Each stage reports into one Reporter; compilation stops after the first stage that has errors
(resolution, type checking and effect checking form one semantic stage). A crash of the compiler
itself is reported as an internal compiler error (code E999), never as the user's mistake."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, final

from . import extract as X
from .check import check
from .diagnostics import ICE_CODE, Diagnostic, LumenCompileError, Reporter, Span
from .effects import check_effects, check_export_names, to_kebab
from .emit import Emitter, assemble, manifest_json
from .layout import Layout
from .lexer import lex
from .lower import ModuleGen, helper_texts, lower_cell
from .lower_export import lower_export
from .parser import parse
from .resolve import resolve

_KNOWN_DIRECTIVES: Final = frozenset({"strict", "deterministic", "doc_mode"})


@final
@dataclass(frozen=True)
class CompiledPlugin:
    """A compiled Lumen plugin: the component binary and what describes it.

    Attributes:
        wasm: the component binary (validated with wasmtime).
        wit: a human-readable WIT world of the component's imports and exports.
        wat: the component WAT text that was assembled.
        manifest: the `lumen:manifest` custom section as a dict.
        diagnostics: warnings produced while compiling.
        timings: seconds spent per stage.
    """

    wasm: bytes
    wit: str
    wat: str
    manifest: dict[str, object]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _fail(rep: Reporter, lines: list[str]) -> LumenCompileError:
    return LumenCompileError(rep.sorted(), lines)


def compile_source(data: bytes, filename: str, markdown: bool) -> CompiledPlugin:
    """Compile the bytes of one source file; raises LumenCompileError."""
    rep = Reporter(filename)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    lines: list[str] = []
    try:
        text = X.decode(data, rep)
        if text is None:
            raise _fail(rep, data.decode("utf-8", errors="replace").split("\n"))
        lines = text.replace("\r\n", "\n").split("\n")
        ex = X.extract(text, markdown, rep)
        if rep.has_errors:
            raise _fail(rep, lines)
        for d in ex.directives:
            if d.name not in _KNOWN_DIRECTIVES:
                rep.warning("W001", d.span, f"directive '@{d.name}' is ignored")
        toks = lex(ex.code, rep)
        if rep.has_errors:
            raise _fail(rep, lines)
        prog = parse(toks, rep, lines)
        timings["parse"] = time.perf_counter() - t0
        if rep.has_errors:
            raise _fail(rep, lines)
        g = resolve(prog, rep)
        check(prog, g, rep, lines)
        check_effects(g, rep)
        check_export_names(g, rep)
        timings["check"] = time.perf_counter() - t0 - timings["parse"]
        if rep.has_errors:
            raise _fail(rep, lines)
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        lay = Layout(g)
        mod = ModuleGen(g, lay, base)
        for name, info in g.cells.items():
            lower_cell(mod, name)
        for name, info in g.cells.items():
            if info.decl.pub:
                lower_export(mod, name)
        mod.exports.sort()
        helpers = helper_texts(mod)
        heap_base = (mod.data.end + 7) & ~7
        pages = max(1, (heap_base + 65535) // 65536)
        em = Emitter(g, lay, mod)
        main = em.main_module(helpers + mod.funcs, heap_base, pages)
        stem = base
        for suffix in (".lm.md", ".lumen.md", ".lm", ".lumen"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        try:
            package = to_kebab(stem) or "plugin"
        except ValueError:
            package = "plugin"
        manifest = em.manifest(base, data)
        wat = em.component(main, heap_base, pages, manifest_json(manifest))
        wit = em.wit_text(package)
        timings["lower"] = time.perf_counter() - t0 - timings["parse"] - timings["check"]
        t1 = time.perf_counter()
        wasm = assemble(wat)
        timings["assemble"] = time.perf_counter() - t1
        warnings = [d for d in rep.sorted() if not d.is_error]
        return CompiledPlugin(wasm, wit, wat, manifest, warnings, timings)
    except LumenCompileError:
        raise
    except Exception as e:  # an internal compiler error: report it as such
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        where = traceback.extract_tb(e.__traceback__)[-1]
        rep.items = [d for d in rep.items if not d.is_error]
        rep.error(ICE_CODE, Span.at(1, 1), f"internal compiler error: {detail} "
                  f"(in {Path(where.filename).name}:{where.lineno}); this is a bug in tlo_sdk, not in your program")
        raise _fail(rep, lines) from e


def compile_lumen(source: str | Path, *, filename: str | None = None, format: str | None = None) -> CompiledPlugin:
    """Compile a Lumen plugin to a WebAssembly component.

    Args:
        source: a path (a `Path`, or a one-line `str` ending in `.lm`, `.lm.md`, `.lumen` or
            `.lumen.md`) or the source text itself.
        filename: the name used in diagnostics and the manifest for text input; its suffix picks
            the format unless `format` is given.
        format: "lm" (raw source) or "lm.md" (Markdown with ```lumen blocks).

    Returns:
        The CompiledPlugin (wasm, wit, wat, manifest, warnings).

    Raises:
        LumenCompileError: with every diagnostic of the failing stage.
        OSError: if a path cannot be read.
    """
    if isinstance(source, Path) or (
            isinstance(source, str) and "\n" not in source
            and source.endswith((".lm", ".lm.md", ".lumen", ".lumen.md"))):
        path = Path(source)
        data = path.read_bytes()
        name = filename or str(source)
    else:
        data = source.encode("utf-8")
        name = filename or ("input.lm.md" if format in ("lm.md", "md", "markdown") else "input.lm")
    if format is None:
        markdown = X.is_markdown(name)
    else:
        markdown = format in ("lm.md", "md", "markdown", "lumen.md")
    return compile_source(data, name, markdown)
