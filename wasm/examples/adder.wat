;; A plugin written by hand in the WebAssembly text format (component model).
;; It imports one host interface, tlo:host/clock (so it needs the grant `clock`), and exports
;; add(a: u32, b: u32) -> u32, since(ms: s64) -> s64 and greet(name: string) -> string.
(component
  (import "tlo:host/clock@0.1.0" (instance $clock
    (export "now-ms" (func (result s64)))))
  (alias export $clock "now-ms" (func $now-ms))
  (core func $now-ms-core (canon lower (func $now-ms)))

  (core module $m
    (import "host" "now-ms" (func $now-ms (result i64)))
    (memory (export "memory") 1)
    (data (i32.const 0) "hello, ")
    (global $heap (mut i32) (i32.const 1024))
    ;; The canonical ABI allocates argument and result strings with this bump allocator.
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $ptr i32)
      (local.set $ptr (global.get $heap))
      (global.set $heap (i32.add (local.get $ptr) (local.get 3)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get 3) (i32.const 16))
                                                (i32.const 1)))
                          (i32.const -1))
                (then unreachable))))
      (local.get $ptr))
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (local.get 0) (local.get 1)))
    (func (export "since") (param $ms i64) (result i64)
      (i64.sub (call $now-ms) (local.get $ms)))
    ;; greet: "hello, " + name, returned as (pointer, length) stored at address 16.
    (func (export "greet") (param $name i32) (param $len i32) (result i32)
      (local $out i32)
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1)
                                     (i32.add (local.get $len) (i32.const 7))))
      (memory.copy (local.get $out) (i32.const 0) (i32.const 7))
      (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $name) (local.get $len))
      (i32.store (i32.const 16) (local.get $out))
      (i32.store (i32.const 20) (i32.add (local.get $len) (i32.const 7)))
      (i32.const 16))
    ;; After the host has read a result, free everything.
    (func (export "reset") (param i32)
      (global.set $heap (i32.const 1024))))

  (core instance $i (instantiate $m
    (with "host" (instance (export "now-ms" (func $now-ms-core))))))
  (alias core export $i "memory" (core memory $memory))
  (alias core export $i "realloc" (core func $realloc))
  (alias core export $i "reset" (core func $reset))

  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $i "add")))
  (func (export "since") (param "ms" s64) (result s64)
    (canon lift (core func $i "since")))
  (func (export "greet") (param "name" string) (result string)
    (canon lift (core func $i "greet") (memory $memory) (realloc $realloc)
                (post-return $reset))))
