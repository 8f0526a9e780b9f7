;; Hand-written component for bench/lumen.py: the same work as wasm/examples/order_validation.lm.md
;; (SPEC 4.1), written directly in WAT as a careful author would, to measure what the Lumen
;; compiler's output costs against it. Same WIT signature, same results and trap messages:
;;
;;   record line-item { sku: string, quantity: s64, unit-price-cents: s64 }
;;   record order { id: string, customer: string, items: list<line-item> }
;;   validate-order: func(order: order) -> result<s64, string>
(component
  (import "lumen:runtime/rt@0.1.0" (instance $rt
    (export "abort" (func (param "message" string)))))

  (core module $Mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 512))
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
    (func (export "reset") (global.set $bump (i32.const 512))))
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "cabi_realloc" (core func $realloc))
  (core func $rt.abort (canon lower (func $rt "abort") (memory $memory) string-encoding=utf8))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "env" "cabi_realloc" (func $alloc (param i32 i32 i32 i32) (result i32)))
    (import "env" "reset" (func $reset))
    (import "rt" "abort" (func $abort (param i32 i32)))
    (data (i32.const 16) "missing order id")                    ;; 16
    (data (i32.const 32) "customer must be an email address")   ;; 33
    (data (i32.const 72) "order ")                              ;; 6
    (data (i32.const 80) " has no items")                       ;; 13
    (data (i32.const 96) "item ")                               ;; 5
    (data (i32.const 104) ": quantity must be positive")        ;; 27
    (data (i32.const 136) ": negative price")                   ;; 16
    (data (i32.const 160) "integer overflow in multiplication (at order_validation.lm.md:40:28)")  ;; 68
    (data (i32.const 256) "integer overflow in addition (at order_validation.lm.md:40:11)")        ;; 62

    ;; a result<s64, string> err case holding a string made of three pieces
    (func $err3 (param $p1 i32) (param $l1 i32) (param $p2 i32) (param $l2 i32) (param $p3 i32) (param $l3 i32) (result i32)
      (local $out i32) (local $buf i32) (local $n i32)
      (local.set $n (i32.add (i32.add (local.get $l1) (local.get $l2)) (local.get $l3)))
      (local.set $buf (call $alloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $n)))
      (memory.copy (local.get $buf) (local.get $p1) (local.get $l1))
      (memory.copy (i32.add (local.get $buf) (local.get $l1)) (local.get $p2) (local.get $l2))
      (memory.copy (i32.add (local.get $buf) (i32.add (local.get $l1) (local.get $l2))) (local.get $p3) (local.get $l3))
      (local.set $out (call $alloc (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 16)))
      (i32.store8 (local.get $out) (i32.const 1))
      (i32.store offset=8 (local.get $out) (local.get $buf))
      (i32.store offset=12 (local.get $out) (local.get $n))
      (local.get $out))

    (func $err (param $p i32) (param $l i32) (result i32)
      (call $err3 (local.get $p) (local.get $l) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))

    (func (export "validate-order")
      (param $idp i32) (param $idl i32) (param $cp i32) (param $cl i32) (param $items i32) (param $n i32)
      (result i32)
      (local $i i32) (local $at i32) (local $item i32) (local $q i64) (local $price i64)
      (local $prod i64) (local $total i64) (local $sum i64) (local $out i32)
      (if (i32.eqz (local.get $idl))
        (then (return (call $err (i32.const 16) (i32.const 16)))))
      ;; customer.contains("@")
      (local.set $at (i32.const 0))
      (block $found (loop $scan
        (br_if $found (i32.ge_u (local.get $i) (local.get $cl)))
        (if (i32.eq (i32.load8_u (i32.add (local.get $cp) (local.get $i))) (i32.const 64))
          (then (local.set $at (i32.const 1)) (br $found)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
      (if (i32.eqz (local.get $at))
        (then (return (call $err (i32.const 32) (i32.const 33)))))
      (if (i32.eqz (local.get $n))
        (then (return (call $err3 (i32.const 72) (i32.const 6) (local.get $idp) (local.get $idl)
                                  (i32.const 80) (i32.const 13)))))
      (local.set $i (i32.const 0))
      (block $done (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $item (i32.add (local.get $items) (i32.mul (local.get $i) (i32.const 24))))
        (local.set $q (i64.load offset=8 (local.get $item)))
        (local.set $price (i64.load offset=16 (local.get $item)))
        (if (i64.le_s (local.get $q) (i64.const 0))
          (then (return (call $err3 (i32.const 96) (i32.const 5)
                                    (i32.load (local.get $item)) (i32.load offset=4 (local.get $item))
                                    (i32.const 104) (i32.const 27)))))
        (if (i64.lt_s (local.get $price) (i64.const 0))
          (then (return (call $err3 (i32.const 96) (i32.const 5)
                                    (i32.load (local.get $item)) (i32.load offset=4 (local.get $item))
                                    (i32.const 136) (i32.const 16)))))
        ;; checked q * price (q > 0 here, so only the division test is needed)
        (local.set $prod (i64.mul (local.get $q) (local.get $price)))
        (if (i64.ne (i64.div_s (local.get $prod) (local.get $q)) (local.get $price))
          (then (call $abort (i32.const 160) (i32.const 68)) unreachable))
        ;; checked total + prod
        (local.set $sum (i64.add (local.get $total) (local.get $prod)))
        (if (i64.lt_s (i64.and (i64.xor (local.get $total) (local.get $sum))
                               (i64.xor (local.get $prod) (local.get $sum))) (i64.const 0))
          (then (call $abort (i32.const 256) (i32.const 62)) unreachable))
        (local.set $total (local.get $sum))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
      (local.set $out (call $alloc (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 16)))
      (i32.store8 (local.get $out) (i32.const 0))
      (i64.store offset=8 (local.get $out) (local.get $total))
      (local.get $out))

    (func (export "post") (param i32) (call $reset)))

  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory))
                          (export "cabi_realloc" (func $realloc))
                          (export "reset" (func $mem "reset"))))
    (with "rt" (instance (export "abort" (func $rt.abort))))))

  (type $line-item' (record (field "sku" string) (field "quantity" s64) (field "unit-price-cents" s64)))
  (export $line-item "line-item" (type $line-item'))
  (type $order' (record (field "id" string) (field "customer" string) (field "items" (list $line-item))))
  (export $order "order" (type $order'))
  (func $validate-order (param "order" $order) (result (result s64 (error string)))
    (canon lift (core func $main "validate-order") (memory $memory) (realloc $realloc) string-encoding=utf8
      (post-return (core func $main "post"))))
  (export "validate-order" (func $validate-order))
)
