;; Hand-written component for bench/lumen.py: the same work as wasm/examples/retry_backoff.lm
;; (SPEC 4.3), written directly in WAT, to compare the compiler's loops and checked arithmetic
;; against what a careful author would write. Same WIT signature, results and trap messages:
;;
;;   record retry-policy { base-ms: s64, factor: s64, max-ms: s64, max-attempts: s64 }
;;   variant decision { retry-after(s64), give-up(string) }
;;   next-retry: func(policy: retry-policy, attempt: s64) -> decision
(component
  (import "lumen:runtime/rt@0.1.0" (instance $rt
    (export "abort" (func (param "message" string)))))

  (core module $Mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
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
      (local.get $p))
    (func (export "reset") (global.set $bump (i32.const 1024))))
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "cabi_realloc" (core func $realloc))
  (core func $rt.abort (canon lower (func $rt "abort") (memory $memory) string-encoding=utf8))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "env" "cabi_realloc" (func $alloc (param i32 i32 i32 i32) (result i32)))
    (import "env" "reset" (func $reset))
    (import "rt" "abort" (func $abort (param i32 i32)))
    (data (i32.const 16) "Constraint failed for field 'base_ms' of record 'RetryPolicy': base_ms > 0 (argument 'policy' of exported cell 'next_retry')")                                   ;; 124
    (data (i32.const 144) "Constraint failed for field 'factor' of record 'RetryPolicy': factor >= 1 and factor <= 10 (argument 'policy' of exported cell 'next_retry')")                ;; 140
    (data (i32.const 288) "Constraint failed for field 'max_ms' of record 'RetryPolicy': max_ms > 0 (argument 'policy' of exported cell 'next_retry')")                                    ;; 122
    (data (i32.const 416) "Constraint failed for field 'max_attempts' of record 'RetryPolicy': max_attempts >= 1 (argument 'policy' of exported cell 'next_retry')")                      ;; 135
    (data (i32.const 560) "integer overflow in multiplication (at retry_backoff.lm:20:11)")   ;; 62
    (data (i32.const 624) "integer overflow in addition (at retry_backoff.lm:24:7)")         ;; 56
    (data (i32.const 688) "exhausted after ")                                                ;; 16
    (data (i32.const 704) " attempts")                                                       ;; 9

    (func $retry_after (param $v i64) (result i32) (local $out i32)
      (local.set $out (call $alloc (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 16)))
      (i32.store8 (local.get $out) (i32.const 0))
      (i64.store offset=8 (local.get $out) (local.get $v))
      (local.get $out))

    ;; give-up("exhausted after {n} attempts") for n >= 1
    (func $give_up (param $n i64) (result i32)
      (local $digits i32) (local $v i64) (local $buf i32) (local $len i32) (local $p i32) (local $out i32)
      (local.set $v (local.get $n))
      (loop $count
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
        (br_if $count (i64.ne (local.get $v) (i64.const 0))))
      (local.set $len (i32.add (local.get $digits) (i32.const 25)))
      (local.set $buf (call $alloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $len)))
      (memory.copy (local.get $buf) (i32.const 688) (i32.const 16))
      (local.set $p (i32.add (local.get $buf) (i32.add (i32.const 16) (local.get $digits))))
      (local.set $v (local.get $n))
      (loop $write
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
        (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
        (br_if $write (i64.ne (local.get $v) (i64.const 0))))
      (memory.copy (i32.add (local.get $buf) (i32.add (i32.const 16) (local.get $digits))) (i32.const 704) (i32.const 9))
      (local.set $out (call $alloc (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 16)))
      (i32.store8 (local.get $out) (i32.const 1))
      (i32.store offset=8 (local.get $out) (local.get $buf))
      (i32.store offset=12 (local.get $out) (local.get $len))
      (local.get $out))

    (func (export "next-retry")
      (param $base i64) (param $factor i64) (param $max i64) (param $attempts i64) (param $attempt i64)
      (result i32)
      (local $delay i64) (local $i i64) (local $prod i64)
      ;; the boundary where-checks, fields in declaration order
      (if (i64.le_s (local.get $base) (i64.const 0))
        (then (call $abort (i32.const 16) (i32.const 124)) unreachable))
      (if (i32.or (i64.lt_s (local.get $factor) (i64.const 1)) (i64.gt_s (local.get $factor) (i64.const 10)))
        (then (call $abort (i32.const 144) (i32.const 140)) unreachable))
      (if (i64.le_s (local.get $max) (i64.const 0))
        (then (call $abort (i32.const 288) (i32.const 122)) unreachable))
      (if (i64.lt_s (local.get $attempts) (i64.const 1))
        (then (call $abort (i32.const 416) (i32.const 135)) unreachable))
      (if (i64.ge_s (local.get $attempt) (local.get $attempts))
        (then (return (call $give_up (local.get $attempt)))))
      (local.set $delay (local.get $base))
      (block $done (loop $while
        (br_if $done (i64.ge_s (local.get $i) (local.get $attempt)))
        ;; checked delay * factor; factor is in 1..10 here, so only the division test is needed
        (local.set $prod (i64.mul (local.get $delay) (local.get $factor)))
        (if (i64.ne (i64.div_s (local.get $prod) (local.get $factor)) (local.get $delay))
          (then (call $abort (i32.const 560) (i32.const 62)) unreachable))
        (local.set $delay (local.get $prod))
        (if (i64.ge_s (local.get $delay) (local.get $max))
          (then (return (call $retry_after (local.get $max)))))
        ;; checked i + 1
        (if (i64.eq (local.get $i) (i64.const 0x7fffffffffffffff))
          (then (call $abort (i32.const 624) (i32.const 55)) unreachable))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $while)))
      (call $retry_after
        (select (local.get $delay) (local.get $max) (i64.lt_s (local.get $delay) (local.get $max)))))

    (func (export "post") (param i32) (call $reset)))

  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory))
                          (export "cabi_realloc" (func $realloc))
                          (export "reset" (func $mem "reset"))))
    (with "rt" (instance (export "abort" (func $rt.abort))))))

  (type $retry-policy' (record (field "base-ms" s64) (field "factor" s64) (field "max-ms" s64) (field "max-attempts" s64)))
  (export $retry-policy "retry-policy" (type $retry-policy'))
  (type $decision' (variant (case "retry-after" s64) (case "give-up" string)))
  (export $decision "decision" (type $decision'))
  (func $next-retry (param "policy" $retry-policy) (param "attempt" s64) (result $decision)
    (canon lift (core func $main "next-retry") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "next-retry" (func $next-retry))
)
