"""Hand-written component WAT for the plugin host tests (exact cases, no toolchain between).

Canonical ABI notes for reading these: an export whose result flattens to more than one core
value returns a pointer to it in linear memory (the core functions `store2`/`store3` write
their parameters there in order, which is the memory layout of every type echoed with them);
imported functions that pass strings or lists are lowered with the memory and `realloc` of a
separate module instantiated first (see ../shared/research/wasmtime-components.md §8).
"""

from __future__ import annotations

from functools import cache
from typing import Final

import wasmtime

_REALLOC: Final = """
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (block $ok
        (br_if $ok (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $bump)
                       (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
                    (i32.const -1))
          (then unreachable)))
      (local.get $p))
"""

#: add(u32, u32) plus the hostile cases of a pure guest: a loop (fuel, timeout), a memory
#: bomb, unbounded recursion, unreachable, and a result pointing outside memory.
ADD_WAT: Final = """(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "spin") (loop $l (br $l)))
    (func (export "grow") (result i32)
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      memory.size)
    (func (export "bomb")
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      unreachable)
    (func $rec (export "recurse") (param i32) (result i32)
      (i32.add (call $rec (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
    (func (export "boom") unreachable)
    (func (export "huge") (result i32)
      (i32.store (i32.const 16) (i32.const 8))
      (i32.store (i32.const 20) (i32.const 0x7ffffff0))
      (i32.const 16)))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $mem))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func (export "spin") (canon lift (core func $i "spin")))
  (func (export "grow") (result u32) (canon lift (core func $i "grow")))
  (func (export "bomb") (canon lift (core func $i "bomb")))
  (func (export "recurse") (param "n" u32) (result u32) (canon lift (core func $i "recurse")))
  (func (export "boom") (canon lift (core func $i "boom")))
  (func (export "huge") (result string) (canon lift (core func $i "huge") (memory $mem)))
)"""

#: add(u32, u32) that adds one more: "the same plugin, changed".
ADD_PLUS_ONE_WAT: Final = """(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (i32.add (local.get 0) (local.get 1)) (i32.const 1))))
  (core instance $i (instantiate $m))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
)"""

#: Identity functions over every kind of WIT type.
TYPES_WAT: Final = """(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
""" + _REALLOC + """
    (func (export "id32") (param i32) (result i32) local.get 0)
    (func (export "id64") (param i64) (result i64) local.get 0)
    (func (export "idf64") (param f64) (result f64) local.get 0)
    (func (export "store2") (param i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0)) (i32.store (i32.const 20) (local.get 1))
      (i32.const 16))
    (func (export "store3") (param i32 i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0)) (i32.store (i32.const 20) (local.get 1))
      (i32.store (i32.const 24) (local.get 2)) (i32.const 16))
    (func (export "store4") (param i32 i32 i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0)) (i32.store (i32.const 20) (local.get 1))
      (i32.store (i32.const 24) (local.get 2)) (i32.store (i32.const 28) (local.get 3))
      (i32.const 16)))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $mem))
  (alias core export $i "realloc" (core func $realloc))
  (type $order (record (field "kind" string) (field "unit-count" u32)))
  (export $order-ex "order" (type $order))
  (type $color (enum "red" "dark-green"))
  (export $color-ex "color" (type $color))
  (type $shape (variant (case "num" u32) (case "text" string) (case "nothing")))
  (export $shape-ex "shape" (type $shape))
  (type $pair (variant (case "left" string) (case "right" string)))
  (export $pair-ex "pair" (type $pair))
  (type $perm (flags "read" "write" "exec-all"))
  (export $perm-ex "perm" (type $perm))
  (type $opt-order (record (field "kind" string) (field "note" (option u32))))
  (export $opt-order-ex "opt-order" (type $opt-order))
  (func (export "echo-order") (param "o" $order-ex) (result $order-ex)
    (canon lift (core func $i "store3") (memory $mem) (realloc $realloc)))
  (func (export "echo-opt-order") (param "o" $opt-order-ex) (result $opt-order-ex)
    (canon lift (core func $i "store4") (memory $mem) (realloc $realloc)))
  (func (export "echo-orders") (param "l" (list $order-ex)) (result (list $order-ex))
    (canon lift (core func $i "store2") (memory $mem) (realloc $realloc)))
  (func (export "echo-color") (param "c" $color-ex) (result $color-ex) (canon lift (core func $i "id32")))
  (func (export "echo-shape") (param "s" $shape-ex) (result $shape-ex)
    (canon lift (core func $i "store3") (memory $mem) (realloc $realloc)))
  (func (export "echo-pair") (param "p" $pair-ex) (result $pair-ex)
    (canon lift (core func $i "store3") (memory $mem) (realloc $realloc)))
  (func (export "echo-perm") (param "p" $perm-ex) (result $perm-ex) (canon lift (core func $i "id32")))
  (func (export "echo-opt") (param "x" (option u32)) (result (option u32))
    (canon lift (core func $i "store2") (memory $mem)))
  (func (export "echo-optopt") (param "x" (option (option u32))) (result (option (option u32)))
    (canon lift (core func $i "store3") (memory $mem)))
  (func (export "echo-res") (param "r" (result u32 (error string))) (result (result u32 (error string)))
    (canon lift (core func $i "store3") (memory $mem) (realloc $realloc)))
  (func (export "echo-res-str") (param "r" (result string (error string))) (result (result string (error string)))
    (canon lift (core func $i "store3") (memory $mem) (realloc $realloc)))
  (func (export "echo-list") (param "l" (list u32)) (result (list u32))
    (canon lift (core func $i "store2") (memory $mem) (realloc $realloc)))
  (func (export "echo-bytes") (param "b" (list u8)) (result (list u8))
    (canon lift (core func $i "store2") (memory $mem) (realloc $realloc)))
  (func (export "echo-tuple") (param "t" (tuple u32 string)) (result (tuple u32 string))
    (canon lift (core func $i "store3") (memory $mem) (realloc $realloc)))
  (func (export "echo-str") (param "s" string) (result string)
    (canon lift (core func $i "store2") (memory $mem) (realloc $realloc)))
  (func (export "echo-bool") (param "b" bool) (result bool) (canon lift (core func $i "id32")))
  (func (export "echo-s8") (param "x" s8) (result s8) (canon lift (core func $i "id32")))
  (func (export "echo-u64") (param "x" u64) (result u64) (canon lift (core func $i "id64")))
  (func (export "echo-s64") (param "x" s64) (result s64) (canon lift (core func $i "id64")))
  (func (export "echo-f64") (param "x" f64) (result f64) (canon lift (core func $i "idf64")))
  (func (export "echo-char") (param "c" char) (result char) (canon lift (core func $i "id32")))
)"""

_HOST_IMPORTS: Final = """
  (import "tlo:host/kv@0.1.0" (instance $kv
    (export "get" (func (param "key" string) (result (option string))))
    (export "put" (func (param "key" string) (param "value" string)))
    (export "delete" (func (param "key" string) (result bool)))
    (export "keys" (func (param "prefix" string) (result (list string))))))
  (import "tlo:host/log@0.1.0" (instance $log
    (export "info" (func (param "message" string)))))
  (import "tlo:host/journal@0.1.0" (instance $journal
    (export "append" (func (param "stream" string) (param "event-type" string)
                           (param "payload" string) (result s64)))
    (export "read" (func (param "stream" string) (param "after-version" s64) (param "limit" u32)
                         (result (list (tuple s64 string string)))))))
  (import "tlo:host/clock@0.1.0" (instance $clock (export "now-ms" (func (result s64)))))
  (import "tlo:host/random@0.1.0" (instance $random
    (export "below" (func (param "bound" s64) (result s64)))))
"""


def host_wat(rand_offset: int = 0) -> str:
    """A plugin using every tlo:host interface (`rand_offset` changes what `rand` returns)."""
    return """(component""" + _HOST_IMPORTS + """
  (core module $mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
""" + _REALLOC + """
    (data (i32.const 300) "routed")
    (data (i32.const 310) "Routed"))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "memory" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (alias export $kv "get" (func $kv-get))
  (alias export $kv "put" (func $kv-put))
  (alias export $kv "delete" (func $kv-delete))
  (alias export $kv "keys" (func $kv-keys))
  (alias export $log "info" (func $log-info))
  (alias export $journal "append" (func $j-append))
  (alias export $journal "read" (func $j-read))
  (alias export $clock "now-ms" (func $now))
  (alias export $random "below" (func $below))
  (core func $kv-get-c (canon lower (func $kv-get) (memory $memory) (realloc $realloc)))
  (core func $kv-put-c (canon lower (func $kv-put) (memory $memory)))
  (core func $kv-delete-c (canon lower (func $kv-delete) (memory $memory)))
  (core func $kv-keys-c (canon lower (func $kv-keys) (memory $memory) (realloc $realloc)))
  (core func $log-info-c (canon lower (func $log-info) (memory $memory)))
  (core func $j-append-c (canon lower (func $j-append) (memory $memory)))
  (core func $j-read-c (canon lower (func $j-read) (memory $memory) (realloc $realloc)))
  (core func $now-c (canon lower (func $now)))
  (core func $below-c (canon lower (func $below)))
  (core module $main
    (import "m" "memory" (memory 1))
    (import "h" "kv-get" (func $kv-get (param i32 i32 i32)))
    (import "h" "kv-put" (func $kv-put (param i32 i32 i32 i32)))
    (import "h" "kv-delete" (func $kv-delete (param i32 i32) (result i32)))
    (import "h" "kv-keys" (func $kv-keys (param i32 i32 i32)))
    (import "h" "log-info" (func $log-info (param i32 i32)))
    (import "h" "j-append" (func $j-append (param i32 i32 i32 i32 i32 i32) (result i64)))
    (import "h" "j-read" (func $j-read (param i32 i32 i64 i32 i32)))
    (import "h" "now" (func $now (result i64)))
    (import "h" "below" (func $below (param i64) (result i64)))
    (func (export "get") (param i32 i32) (result i32)
      (call $kv-get (local.get 0) (local.get 1) (i32.const 64)) (i32.const 64))
    (func (export "put") (param i32 i32 i32 i32)
      (call $kv-put (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
    (func (export "swap") (param i32 i32 i32 i32) (result i32)
      (call $kv-get (local.get 0) (local.get 1) (i32.const 64))
      (call $kv-put (local.get 0) (local.get 1) (local.get 2) (local.get 3))
      (i32.const 64))
    (func (export "put-get") (param i32 i32 i32 i32) (result i32)
      (call $kv-put (local.get 0) (local.get 1) (local.get 2) (local.get 3))
      (call $kv-get (local.get 0) (local.get 1) (i32.const 64))
      (i32.const 64))
    (func (export "put-then-trap") (param i32 i32 i32 i32)
      (call $kv-put (local.get 0) (local.get 1) (local.get 2) (local.get 3))
      unreachable)
    (func (export "delete") (param i32 i32) (result i32)
      (call $kv-delete (local.get 0) (local.get 1)))
    (func (export "keys") (param i32 i32) (result i32)
      (call $kv-keys (local.get 0) (local.get 1) (i32.const 80)) (i32.const 80))
    (func (export "log") (param i32 i32) (call $log-info (local.get 0) (local.get 1)))
    (func (export "append") (param i32 i32 i32 i32 i32 i32) (result i64)
      (call $j-append (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                      (local.get 5)))
    (func (export "append-then-trap") (param i32 i32 i32 i32 i32 i32)
      (drop (call $j-append (local.get 0) (local.get 1) (local.get 2) (local.get 3)
                            (local.get 4) (local.get 5)))
      unreachable)
    (func (export "read") (param i32 i32) (result i32)
      (call $j-read (local.get 0) (local.get 1) (i64.const 0) (i32.const 100) (i32.const 96))
      (i32.const 96))
    (func (export "route") (param i32 i32 i32 i32) (result i64)
      (call $j-append (i32.const 300) (i32.const 6) (i32.const 310) (i32.const 6)
                      (local.get 2) (local.get 3)))
    (func (export "now") (result i64) (call $now))
    (func (export "rand") (param i64) (result i64)
      (i64.add (call $below (local.get 0)) (i64.const """ + str(rand_offset) + """)))
    (func (export "stamp") (param i32 i32) (result i64)
      ;; kv.put(key, "x") then now-ms + below(1000)
      (i32.store8 (i32.const 200) (i32.const 120))
      (call $kv-put (local.get 0) (local.get 1) (i32.const 200) (i32.const 1))
      (i64.add (call $now) (i64.add (call $below (i64.const 1000)) (i64.const """ + str(
        rand_offset) + """)))))
  (core instance $hi
    (export "kv-get" (func $kv-get-c)) (export "kv-put" (func $kv-put-c))
    (export "kv-delete" (func $kv-delete-c)) (export "kv-keys" (func $kv-keys-c))
    (export "log-info" (func $log-info-c)) (export "j-append" (func $j-append-c))
    (export "j-read" (func $j-read-c)) (export "now" (func $now-c)) (export "below" (func $below-c)))
  (core instance $i (instantiate $main (with "m" (instance $mi)) (with "h" (instance $hi))))
  (func (export "get") (param "key" string) (result (option string))
    (canon lift (core func $i "get") (memory $memory) (realloc $realloc)))
  (func (export "put") (param "key" string) (param "value" string)
    (canon lift (core func $i "put") (memory $memory) (realloc $realloc)))
  (func (export "swap") (param "key" string) (param "value" string) (result (option string))
    (canon lift (core func $i "swap") (memory $memory) (realloc $realloc)))
  (func (export "put-get") (param "key" string) (param "value" string) (result (option string))
    (canon lift (core func $i "put-get") (memory $memory) (realloc $realloc)))
  (func (export "put-then-trap") (param "key" string) (param "value" string)
    (canon lift (core func $i "put-then-trap") (memory $memory) (realloc $realloc)))
  (func (export "delete") (param "key" string) (result bool)
    (canon lift (core func $i "delete") (memory $memory) (realloc $realloc)))
  (func (export "keys") (param "prefix" string) (result (list string))
    (canon lift (core func $i "keys") (memory $memory) (realloc $realloc)))
  (func (export "log") (param "message" string)
    (canon lift (core func $i "log") (memory $memory) (realloc $realloc)))
  (func (export "append") (param "stream" string) (param "event-type" string) (param "payload" string)
    (result s64) (canon lift (core func $i "append") (memory $memory) (realloc $realloc)))
  (func (export "append-then-trap") (param "stream" string) (param "event-type" string)
    (param "payload" string) (canon lift (core func $i "append-then-trap") (memory $memory) (realloc $realloc)))
  (func (export "read") (param "stream" string) (result (list (tuple s64 string string)))
    (canon lift (core func $i "read") (memory $memory) (realloc $realloc)))
  (func (export "route") (param "stream" string) (param "payload" string) (result s64)
    (canon lift (core func $i "route") (memory $memory) (realloc $realloc)))
  (func (export "now") (result s64) (canon lift (core func $i "now")))
  (func (export "rand") (param "bound" s64) (result s64) (canon lift (core func $i "rand")))
  (func (export "stamp") (param "key" string) (result s64)
    (canon lift (core func $i "stamp") (memory $memory) (realloc $realloc)))
)"""


#: Imports an interface no host provides.
FOREIGN_IMPORT_WAT: Final = """(component
  (import "evil:net/raw@1.0.0" (instance $n (export "open" (func (result u32)))))
  (core module $m (func (export "f") (result i32) i32.const 1))
  (core instance $i (instantiate $m))
  (func (export "f") (result u32) (canon lift (core func $i "f")))
)"""

#: Imports WASI pieces: random and the monotonic clock (shadowed by turn values) and the
#: environment (empty), at an older 0.2 version than wasmtime registers.
WASI_WAT: Final = """(component
  (import "wasi:random/random@0.2.0" (instance $r (export "get-random-u64" (func (result u64)))))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $c (export "now" (func (result u64)))))
  (import "wasi:cli/environment@0.2.0" (instance $env
     (export "get-arguments" (func (result (list string))))))
  (core module $mem (memory (export "memory") 1)
     (global $bump (mut i32) (i32.const 1024))
""" + _REALLOC + """)
  (core instance $mi (instantiate $mem))
  (alias core export $mi "memory" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (alias export $r "get-random-u64" (func $rand))
  (alias export $c "now" (func $mono))
  (alias export $env "get-arguments" (func $args))
  (core func $rand-c (canon lower (func $rand)))
  (core func $mono-c (canon lower (func $mono)))
  (core func $args-c (canon lower (func $args) (memory $memory) (realloc $realloc)))
  (core module $main
    (import "h" "rand" (func $rand (result i64)))
    (import "h" "mono" (func $mono (result i64)))
    (import "h" "args" (func $args (param i32)))
    (import "m" "memory" (memory 1))
    (func (export "rand") (result i64) (call $rand))
    (func (export "mono") (result i64) (drop (call $mono)) (call $mono))
    (func (export "nargs") (result i32) (call $args (i32.const 16)) (i32.load (i32.const 20))))
  (core instance $hi (export "rand" (func $rand-c)) (export "mono" (func $mono-c))
                     (export "args" (func $args-c)))
  (core instance $i (instantiate $main (with "h" (instance $hi)) (with "m" (instance $mi))))
  (func (export "rand") (result u64) (canon lift (core func $i "rand")))
  (func (export "mono") (result u64) (canon lift (core func $i "mono")))
  (func (export "nargs") (result u32) (canon lift (core func $i "nargs")))
)"""

#: A core module (not a component).
CORE_MODULE_WAT: Final = """(module (func (export "f") (result i32) i32.const 1))"""

#: Imports lumen:runtime/rt (provided without a grant) and calls abort and format-f64.
LUMEN_WAT: Final = """(component
  (import "lumen:runtime/rt@0.1.0" (instance $rt
    (export "abort" (func (param "message" string)))
    (export "format-f64" (func (param "value" f64) (result string)))))
  (core module $mem (memory (export "memory") 1)
     (global $bump (mut i32) (i32.const 1024))
""" + _REALLOC + """
     (data (i32.const 512) "price must be positive (at x.lm:3:7)"))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "memory" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (alias export $rt "abort" (func $abort))
  (alias export $rt "format-f64" (func $fmt))
  (core func $abort-c (canon lower (func $abort) (memory $memory)))
  (core func $fmt-c (canon lower (func $fmt) (memory $memory) (realloc $realloc)))
  (core module $main
    (import "h" "abort" (func $abort (param i32 i32)))
    (import "h" "fmt" (func $fmt (param f64 i32)))
    (func (export "fail") (call $abort (i32.const 512) (i32.const 36)) unreachable)
    (func (export "show") (param f64) (result i32) (call $fmt (local.get 0) (i32.const 16)) (i32.const 16)))
  (core instance $hi (export "abort" (func $abort-c)) (export "fmt" (func $fmt-c)))
  (core instance $i (instantiate $main (with "h" (instance $hi))))
  (func (export "fail") (canon lift (core func $i "fail")))
  (func (export "show") (param "x" f64) (result string)
    (canon lift (core func $i "show") (memory $memory)))
)"""


@cache
def wasm(wat: str) -> bytes:
    """The binary of a WAT text (compiled once per test run)."""
    return wasmtime.wat2wasm(wat)
