;; A hand-written component for tests/sdk/test_harness.py: it exercises every value shape and
;; host interface the harness converts or fakes, so harness bugs show up without the compiler.
;; Layout as SPEC 3.1: $Mem (memory + bump allocator), lowered imports, $Main, lifted exports.
(component
  (import "tlo:host/kv@0.1.0" (instance $kv
    (export "get" (func (param "key" string) (result (option string))))
    (export "put" (func (param "key" string) (param "value" string)))))
  (import "tlo:host/clock@0.1.0" (instance $clock
    (export "now-ms" (func (result s64)))))
  (import "tlo:host/random@0.1.0" (instance $random
    (export "below" (func (param "bound" s64) (result s64)))))
  (import "tlo:host/log@0.1.0" (instance $log
    (export "info" (func (param "message" string)))))
  (import "tlo:host/journal@0.1.0" (instance $journal
    (export "append" (func (param "stream" string) (param "event-type" string) (param "payload" string) (result s64)))))
  (import "lumen:runtime/rt@0.1.0" (instance $rt
    (export "abort" (func (param "message" string)))
    (export "format-f64" (func (param "value" f64) (result string)))
    (export "parse-f64" (func (param "text" string) (result (option f64))))))

  (core module $Mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 128))
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
    (func (export "reset") (global.set $bump (i32.const 128))))
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "cabi_realloc" (core func $realloc))

  (core func $kv.get (canon lower (func $kv "get") (memory $memory) (realloc $realloc) string-encoding=utf8))
  (core func $kv.put (canon lower (func $kv "put") (memory $memory) string-encoding=utf8))
  (core func $clock.now (canon lower (func $clock "now-ms")))
  (core func $random.below (canon lower (func $random "below")))
  (core func $log.info (canon lower (func $log "info") (memory $memory) string-encoding=utf8))
  (core func $journal.append (canon lower (func $journal "append") (memory $memory) string-encoding=utf8))
  (core func $rt.abort (canon lower (func $rt "abort") (memory $memory) string-encoding=utf8))
  (core func $rt.format (canon lower (func $rt "format-f64") (memory $memory) (realloc $realloc) string-encoding=utf8))
  (core func $rt.parse (canon lower (func $rt "parse-f64") (memory $memory) (realloc $realloc) string-encoding=utf8))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "env" "cabi_realloc" (func $alloc (param i32 i32 i32 i32) (result i32)))
    (import "env" "reset" (func $reset))
    (import "host" "kv-get" (func $kv_get (param i32 i32 i32)))
    (import "host" "kv-put" (func $kv_put (param i32 i32 i32 i32)))
    (import "host" "now-ms" (func $now_ms (result i64)))
    (import "host" "below" (func $below (param i64) (result i64)))
    (import "host" "info" (func $info (param i32 i32)))
    (import "host" "append" (func $append (param i32 i32 i32 i32 i32 i32) (result i64)))
    (import "host" "abort" (func $abort (param i32 i32)))
    (import "host" "format-f64" (func $format (param f64 i32)))
    (import "host" "parse-f64" (func $parse (param i32 i32 i32)))
    (data (i32.const 16) "integer overflow in addition")   ;; 16..44
    (data (i32.const 64) "no")
    (data (i32.const 72) "odd")
    (data (i32.const 80) "fetch")
    (data (i32.const 88) "why")
    (data (i32.const 96) "events")
    (data (i32.const 104) "noted")

    (func $new (param $size i32) (param $align i32) (result i32)
      (call $alloc (i32.const 0) (i32.const 0) (local.get $align) (local.get $size)))

    ;; add: func(a: s64, b: s64) -> s64, trapping through rt.abort on overflow
    (func (export "add") (param $a i64) (param $b i64) (result i64) (local $r i64)
      (local.set $r (i64.add (local.get $a) (local.get $b)))
      (if (i64.lt_s (i64.and (i64.xor (local.get $a) (local.get $r)) (i64.xor (local.get $b) (local.get $r))) (i64.const 0))
        (then (call $abort (i32.const 16) (i32.const 28)) unreachable))
      (local.get $r))

    ;; bump-order: func(o: order) -> order  (record order { id: string, qty: s64 }; qty + 1)
    (func (export "bump-order") (param $ip i32) (param $il i32) (param $q i64) (result i32) (local $out i32)
      (local.set $out (call $new (i32.const 16) (i32.const 8)))
      (i32.store (local.get $out) (local.get $ip))
      (i32.store offset=4 (local.get $out) (local.get $il))
      (i64.store offset=8 (local.get $out) (i64.add (local.get $q) (i64.const 1)))
      (local.get $out))

    ;; decide: func(x: s64) -> decision  (variant { retry-after(s64), give-up(string) }: untagged)
    (func (export "decide") (param $x i64) (result i32) (local $out i32)
      (local.set $out (call $new (i32.const 16) (i32.const 8)))
      (if (i64.ge_s (local.get $x) (i64.const 0))
        (then (i32.store8 (local.get $out) (i32.const 0))
              (i64.store offset=8 (local.get $out) (local.get $x)))
        (else (i32.store8 (local.get $out) (i32.const 1))
              (i32.store offset=8 (local.get $out) (i32.const 64))
              (i32.store offset=12 (local.get $out) (i32.const 2))))
      (local.get $out))

    ;; classify: func(k: task-kind) -> task-kind  (variant { tool-call(string), clarification(string), processing }: tagged)
    ;; tool-call(s) -> clarification(s); clarification(s) -> processing; processing -> tool-call("fetch")
    (func (export "classify") (param $d i32) (param $p i32) (param $l i32) (result i32) (local $out i32)
      (local.set $out (call $new (i32.const 12) (i32.const 4)))
      (if (i32.eq (local.get $d) (i32.const 0))
        (then (i32.store8 (local.get $out) (i32.const 1))
              (i32.store offset=4 (local.get $out) (local.get $p))
              (i32.store offset=8 (local.get $out) (local.get $l)))
        (else (if (i32.eq (local.get $d) (i32.const 1))
          (then (i32.store8 (local.get $out) (i32.const 2)))
          (else (i32.store8 (local.get $out) (i32.const 0))
                (i32.store offset=4 (local.get $out) (i32.const 80))
                (i32.store offset=8 (local.get $out) (i32.const 5))))))
      (local.get $out))

    ;; parity: func(x: s64) -> result<s64, string>: ok(x) when even, err("odd")
    (func (export "parity") (param $x i64) (result i32) (local $out i32)
      (local.set $out (call $new (i32.const 16) (i32.const 8)))
      (if (i64.eqz (i64.and (local.get $x) (i64.const 1)))
        (then (i32.store8 (local.get $out) (i32.const 0))
              (i64.store offset=8 (local.get $out) (local.get $x)))
        (else (i32.store8 (local.get $out) (i32.const 1))
              (i32.store offset=8 (local.get $out) (i32.const 72))
              (i32.store offset=12 (local.get $out) (i32.const 3))))
      (local.get $out))

    ;; rank: func(p: priority) -> s64  (enum priority { low, normal, high })
    (func (export "rank") (param $p i32) (result i64) (i64.extend_i32_u (local.get $p)))

    ;; total: func(xs: list<f64>) -> f64
    (func (export "total") (param $p i32) (param $n i32) (result f64) (local $acc f64) (local $i i32)
      (block $done (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (f64.add (local.get $acc) (f64.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (local.get $acc))

    ;; first-or-none: func(xs: list<string>) -> option<string>
    (func (export "first-or-none") (param $p i32) (param $n i32) (result i32) (local $out i32)
      (local.set $out (call $new (i32.const 12) (i32.const 4)))
      (if (i32.eqz (local.get $n))
        (then (i32.store8 (local.get $out) (i32.const 0)))
        (else (i32.store8 (local.get $out) (i32.const 1))
              (i32.store offset=4 (local.get $out) (i32.load (local.get $p)))
              (i32.store offset=8 (local.get $out) (i32.load offset=4 (local.get $p)))))
      (local.get $out))

    ;; lookup: func(key: string) -> string  = kv.get(key) ?? key   (the SPEC 3.1 skeleton)
    (func (export "lookup") (param $kp i32) (param $kl i32) (result i32) (local $opt i32) (local $out i32)
      (local.set $opt (call $new (i32.const 12) (i32.const 4)))
      (call $kv_get (local.get $kp) (local.get $kl) (local.get $opt))
      (if (result i32) (i32.load8_u (local.get $opt))
        (then (i32.add (local.get $opt) (i32.const 4)))
        (else
          (local.set $out (call $new (i32.const 8) (i32.const 4)))
          (i32.store (local.get $out) (local.get $kp))
          (i32.store offset=4 (local.get $out) (local.get $kl))
          (local.get $out))))

    ;; remember: func(key: string, value: string)  -> kv.put, log.info("noted"), journal.append("events", key, value)
    (func (export "remember") (param $kp i32) (param $kl i32) (param $vp i32) (param $vl i32)
      (call $kv_put (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl))
      (call $info (i32.const 104) (i32.const 5))
      (drop (call $append (i32.const 96) (i32.const 6) (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl))))

    ;; stamp: func(bound: s64) -> s64  = now-ms() + below(bound)
    (func (export "stamp") (param $b i64) (result i64)
      (i64.add (call $now_ms) (call $below (local.get $b))))

    ;; show: func(x: f64) -> string  through rt.format-f64
    (func (export "show") (param $x f64) (result i32) (local $out i32)
      (local.set $out (call $new (i32.const 8) (i32.const 4)))
      (call $format (local.get $x) (local.get $out))
      (local.get $out))

    ;; read-float: func(text: string) -> option<f64>  through rt.parse-f64
    (func (export "read-float") (param $p i32) (param $l i32) (result i32) (local $out i32)
      (local.set $out (call $new (i32.const 16) (i32.const 8)))
      (call $parse (local.get $p) (local.get $l) (local.get $out))
      (local.get $out))

    ;; spin: func()  never returns (fuel runs out)
    (func (export "spin") (loop $l (br $l)))

    (func (export "post") (param i32) (call $reset))
    (func (export "post-i64") (param i64) (call $reset)))

  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory))
                          (export "cabi_realloc" (func $realloc))
                          (export "reset" (func $mem "reset"))))
    (with "host" (instance
      (export "kv-get" (func $kv.get)) (export "kv-put" (func $kv.put))
      (export "now-ms" (func $clock.now)) (export "below" (func $random.below))
      (export "info" (func $log.info)) (export "append" (func $journal.append))
      (export "abort" (func $rt.abort)) (export "format-f64" (func $rt.format))
      (export "parse-f64" (func $rt.parse))))))

  (type $order' (record (field "id" string) (field "qty" s64)))
  (export $order "order" (type $order'))
  (type $decision' (variant (case "retry-after" s64) (case "give-up" string)))
  (export $decision "decision" (type $decision'))
  (type $task-kind' (variant (case "tool-call" string) (case "clarification" string) (case "processing")))
  (export $task-kind "task-kind" (type $task-kind'))
  (type $priority' (enum "low" "normal" "high"))
  (export $priority "priority" (type $priority'))

  (func $add (param "a" s64) (param "b" s64) (result s64) (canon lift (core func $main "add")))
  (export "add" (func $add))
  (func $bump-order (param "o" $order) (result $order)
    (canon lift (core func $main "bump-order") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "bump-order" (func $bump-order))
  (func $decide (param "x" s64) (result $decision)
    (canon lift (core func $main "decide") (memory $memory) (post-return (core func $main "post"))))
  (export "decide" (func $decide))
  (func $classify (param "k" $task-kind) (result $task-kind)
    (canon lift (core func $main "classify") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "classify" (func $classify))
  (func $parity (param "x" s64) (result (result s64 (error string)))
    (canon lift (core func $main "parity") (memory $memory) (post-return (core func $main "post"))))
  (export "parity" (func $parity))
  (func $rank (param "p" $priority) (result s64) (canon lift (core func $main "rank")))
  (export "rank" (func $rank))
  (func $total (param "xs" (list f64)) (result f64)
    (canon lift (core func $main "total") (memory $memory) (realloc $realloc)))
  (export "total" (func $total))
  (func $first-or-none (param "xs" (list string)) (result (option string))
    (canon lift (core func $main "first-or-none") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "first-or-none" (func $first-or-none))
  (func $lookup (param "key" string) (result string)
    (canon lift (core func $main "lookup") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "lookup" (func $lookup))
  (func $remember (param "key" string) (param "value" string)
    (canon lift (core func $main "remember") (memory $memory) (realloc $realloc) string-encoding=utf8))
  (export "remember" (func $remember))
  (func $stamp (param "bound" s64) (result s64) (canon lift (core func $main "stamp")))
  (export "stamp" (func $stamp))
  (func $show (param "x" f64) (result string)
    (canon lift (core func $main "show") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "show" (func $show))
  (func $read-float (param "text" string) (result (option f64))
    (canon lift (core func $main "read-float") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "read-float" (func $read-float))
  (func $spin (canon lift (core func $main "spin")))
  (export "spin" (func $spin))
  (@custom "lumen:manifest" "{\"subset\":\"0.1\"}")
)
