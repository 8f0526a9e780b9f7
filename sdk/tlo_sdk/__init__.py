"""tlo_sdk: a compiler from the Lumen plugin subset (LPS 0.1) to WebAssembly components.

    from tlo_sdk import compile_lumen
    plugin = compile_lumen("router.lm.md")      # -> CompiledPlugin(wasm, wit, wat, manifest)
"""

from .diagnostics import Diagnostic, LumenCompileError
from .driver import CompiledPlugin, compile_lumen

__all__ = ["CompiledPlugin", "Diagnostic", "LumenCompileError", "compile_lumen"]
