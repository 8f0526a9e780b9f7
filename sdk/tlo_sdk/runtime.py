"""Runtime helper functions of the program module, as core WAT text (SPEC 3.6, Appendix B).

Each helper is emitted only if the program uses it (directly or through another helper). String
values are pointers to 8-byte (ptr, len) descriptors; lists likewise with (ptr, count)."""

from __future__ import annotations

from typing import Final

# name -> (dependencies, WAT text)
HELPERS: Final[dict[str, tuple[tuple[str, ...], str]]] = {}

#: Helpers that allocate from the heap and so take, as their last parameter, the site (a
#: " (at file:line:col)" string descriptor, or 0) of the construct they allocate for: when memory
#: cannot grow, $alloc traps "out of memory" with that position (SPEC 2.14, 3.6). The site is a
#: constant argument, read only on that slow path. (trap_at, list_index and the *_chk helpers
#: allocate too, but take a site anyway.)
SITED: Final = frozenset([
    "str_new", "mkstr", "itoa", "ftoa", "str_concat", "str_slice", "str_case", "str_trim", "str_split",
    "str_join", "str_replace", "parse_int", "parse_float", "list_new", "list_concat", "list_append",
    "list_slice", "list_reverse", "sort_i64", "sort_str",
])


def _h(name: str, deps: tuple[str, ...], text: str) -> None:
    HELPERS[name] = (deps, text)


_h("alloc", ("oom_at",), """
(func $alloc (param $size i32) (param $align i32) (param $site i32) (result i32) (local $p i32) (local $end i32)
  ;; $site (a " (at file:line:col)" descriptor, or 0) is only read when memory cannot grow
  (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                         (i32.sub (i32.const 0) (local.get $align))))
  (local.set $end (i32.add (local.get $p) (local.get $size)))
  (if (i32.or (i32.lt_u (local.get $end) (local.get $p))
              (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16))))
    (then
      (if (i32.lt_u (local.get $end) (local.get $p)) (then (call $oom_at (local.get $site))))
      (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.shl (memory.size) (i32.const 16)))
                                                  (i32.const 16)) (i32.const 1)))
                  (i32.const -1))
        (then (call $oom_at (local.get $site))))))
  (global.set $bump (local.get $end))
  (local.get $p))""")

_h("oom_at", (), """
(func $oom_at (param $site i32) (local $sl i32)
  ;; "out of memory" and the site, built in a static buffer: the heap is full
  (if (local.get $site) (then
    (local.set $sl (i32.load offset=4 (local.get $site)))
    (memory.copy (i32.add (i32.const {OOM_BUF}) (i32.const {OOM_LEN})) (i32.load (local.get $site)) (local.get $sl))))
  (memory.copy (i32.const {OOM_BUF}) (i32.const {OOM_PTR}) (i32.const {OOM_LEN}))
  (call $abort (i32.const {OOM_BUF}) (i32.add (i32.const {OOM_LEN}) (local.get $sl)))
  unreachable)""")

_h("trap_at", ("alloc",), """
(func $trap_at (param $tp i32) (param $tl i32) (param $site i32) (local $sp i32) (local $sl i32) (local $m i32)
  (local.set $sp (i32.load (local.get $site)))
  (local.set $sl (i32.load offset=4 (local.get $site)))
  (local.set $m (call $alloc (i32.add (local.get $tl) (local.get $sl)) (i32.const 1) (local.get $site)))
  (memory.copy (local.get $m) (local.get $tp) (local.get $tl))
  (memory.copy (i32.add (local.get $m) (local.get $tl)) (local.get $sp) (local.get $sl))
  (call $abort (local.get $m) (i32.add (local.get $tl) (local.get $sl)))
  unreachable)""")

_h("trap_str", (), """
(func $trap_str (param $s i32)
  (call $abort (i32.load (local.get $s)) (i32.load offset=4 (local.get $s)))
  unreachable)""")

_h("str_new", ("alloc",), """
(func $str_new (param $len i32) (param $site i32) (result i32) (local $d i32)
  ;; a descriptor followed by `len` uninitialised bytes
  (local.set $d (call $alloc (i32.add (local.get $len) (i32.const 8)) (i32.const 4) (local.get $site)))
  (i32.store (local.get $d) (i32.add (local.get $d) (i32.const 8)))
  (i32.store offset=4 (local.get $d) (local.get $len))
  (local.get $d))""")

_h("mkstr", ("alloc",), """
(func $mkstr (param $p i32) (param $len i32) (param $site i32) (result i32) (local $d i32)
  (local.set $d (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
  (i32.store (local.get $d) (local.get $p))
  (i32.store offset=4 (local.get $d) (local.get $len))
  (local.get $d))""")

_h("itoa", ("alloc",), """
(func $itoa (param $v i64) (param $site i32) (result i32) (local $u i64) (local $d i32) (local $p i32) (local $neg i32)
  (local.set $d (call $alloc (i32.const 32) (i32.const 4) (local.get $site)))
  (local.set $neg (i64.lt_s (local.get $v) (i64.const 0)))
  (local.set $u (if (result i64) (local.get $neg) (then (i64.sub (i64.const 0) (local.get $v))) (else (local.get $v))))
  (local.set $p (i32.add (local.get $d) (i32.const 32)))
  (loop $l
    (local.set $p (i32.sub (local.get $p) (i32.const 1)))
    (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $u) (i64.const 10))))
    (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
    (br_if $l (i64.ne (local.get $u) (i64.const 0))))
  (if (local.get $neg) (then
    (local.set $p (i32.sub (local.get $p) (i32.const 1)))
    (i32.store8 (local.get $p) (i32.const 45))))
  (i32.store (local.get $d) (local.get $p))
  (i32.store offset=4 (local.get $d) (i32.sub (i32.add (local.get $d) (i32.const 32)) (local.get $p)))
  (local.get $d))""")

_h("ftoa", ("alloc",), """
(func $ftoa (param $v f64) (param $site i32) (result i32) (local $r i32)
  (local.set $r (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
  (call $format_f64 (local.get $v) (local.get $r))
  (local.get $r))""")

_h("str_concat", ("str_new",), """
(func $str_concat (param $a i32) (param $b i32) (param $site i32) (result i32) (local $la i32) (local $lb i32) (local $d i32)
  (local.set $la (i32.load offset=4 (local.get $a)))
  (local.set $lb (i32.load offset=4 (local.get $b)))
  (if (i32.eqz (local.get $la)) (then (return (local.get $b))))
  (if (i32.eqz (local.get $lb)) (then (return (local.get $a))))
  (local.set $d (call $str_new (i32.add (local.get $la) (local.get $lb)) (local.get $site)))
  (memory.copy (i32.load (local.get $d)) (i32.load (local.get $a)) (local.get $la))
  (memory.copy (i32.add (i32.load (local.get $d)) (local.get $la)) (i32.load (local.get $b)) (local.get $lb))
  (local.get $d))""")

_h("mem_eq", (), """
(func $mem_eq (param $p i32) (param $q i32) (param $n i32) (result i32)
  (block $no
    (loop $l8
      (br_if 1 (i32.lt_u (local.get $n) (i32.const 8)))
      (br_if $no (i64.ne (i64.load (local.get $p)) (i64.load (local.get $q))))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (local.set $q (i32.add (local.get $q) (i32.const 8)))
      (local.set $n (i32.sub (local.get $n) (i32.const 8)))
      (br $l8)))
  (if (i32.ge_u (local.get $n) (i32.const 8)) (then (return (i32.const 0))))
  (block $done
    (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (if (i32.ne (i32.load8_u (local.get $p)) (i32.load8_u (local.get $q))) (then (return (i32.const 0))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
  (i32.const 1))""")

_h("str_eq", ("mem_eq",), """
(func $str_eq (param $a i32) (param $b i32) (result i32)
  (if (i32.ne (i32.load offset=4 (local.get $a)) (i32.load offset=4 (local.get $b))) (then (return (i32.const 0))))
  (call $mem_eq (i32.load (local.get $a)) (i32.load (local.get $b)) (i32.load offset=4 (local.get $a))))""")

_h("str_cmp", (), """
(func $str_cmp (param $a i32) (param $b i32) (result i32)
  (local $p i32) (local $q i32) (local $la i32) (local $lb i32) (local $i i32) (local $n i32) (local $x i32) (local $y i32)
  (local.set $p (i32.load (local.get $a))) (local.set $la (i32.load offset=4 (local.get $a)))
  (local.set $q (i32.load (local.get $b))) (local.set $lb (i32.load offset=4 (local.get $b)))
  (local.set $n (select (local.get $la) (local.get $lb) (i32.lt_u (local.get $la) (local.get $lb))))
  (block $done
    (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $x (i32.load8_u (i32.add (local.get $p) (local.get $i))))
      (local.set $y (i32.load8_u (i32.add (local.get $q) (local.get $i))))
      (if (i32.ne (local.get $x) (local.get $y))
        (then (return (select (i32.const -1) (i32.const 1) (i32.lt_u (local.get $x) (local.get $y))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  (i32.sub (i32.gt_u (local.get $la) (local.get $lb)) (i32.lt_u (local.get $la) (local.get $lb))))""")

_h("str_find", ("mem_eq",), """
(func $str_find (param $s i32) (param $t i32) (param $from i32) (result i32)
  ;; byte index of the first occurrence of t in s at or after `from`, or -1
  (local $sp i32) (local $sl i32) (local $tp i32) (local $tl i32) (local $i i32) (local $last i32) (local $c i32)
  (local.set $sp (i32.load (local.get $s))) (local.set $sl (i32.load offset=4 (local.get $s)))
  (local.set $tp (i32.load (local.get $t))) (local.set $tl (i32.load offset=4 (local.get $t)))
  (if (i32.gt_u (i32.add (local.get $from) (local.get $tl)) (local.get $sl)) (then (return (i32.const -1))))
  (if (i32.eqz (local.get $tl)) (then (return (local.get $from))))
  (local.set $last (i32.sub (local.get $sl) (local.get $tl)))
  (local.set $c (i32.load8_u (local.get $tp)))
  (local.set $i (local.get $from))
  (block $done
    (loop $l
      (br_if $done (i32.gt_u (local.get $i) (local.get $last)))
      (if (i32.eq (i32.load8_u (i32.add (local.get $sp) (local.get $i))) (local.get $c))
        (then (if (call $mem_eq (i32.add (local.get $sp) (local.get $i)) (local.get $tp) (local.get $tl))
                (then (return (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  (i32.const -1))""")

_h("starts_with", ("mem_eq",), """
(func $starts_with (param $s i32) (param $t i32) (result i32)
  (if (i32.gt_u (i32.load offset=4 (local.get $t)) (i32.load offset=4 (local.get $s))) (then (return (i32.const 0))))
  (call $mem_eq (i32.load (local.get $s)) (i32.load (local.get $t)) (i32.load offset=4 (local.get $t))))""")

_h("ends_with", ("mem_eq",), """
(func $ends_with (param $s i32) (param $t i32) (result i32)
  (if (i32.gt_u (i32.load offset=4 (local.get $t)) (i32.load offset=4 (local.get $s))) (then (return (i32.const 0))))
  (call $mem_eq (i32.sub (i32.add (i32.load (local.get $s)) (i32.load offset=4 (local.get $s))) (i32.load offset=4 (local.get $t)))
                (i32.load (local.get $t)) (i32.load offset=4 (local.get $t))))""")

_h("cp_count", (), """
(func $cp_count (param $p i32) (param $n i32) (result i32) (local $c i32) (local $end i32)
  (local.set $end (i32.add (local.get $p) (local.get $n)))
  (block $done
    (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $c (i32.add (local.get $c) (i32.ne (i32.and (i32.load8_u (local.get $p)) (i32.const 0xC0)) (i32.const 0x80))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $l)))
  (local.get $c))""")

_h("cp_offset", (), """
(func $cp_offset (param $p i32) (param $n i32) (param $k i32) (result i32) (local $i i32)
  ;; byte offset of code point k (n if the string has fewer code points)
  (block $done
    (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.ne (i32.and (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 0xC0)) (i32.const 0x80))
        (then
          (br_if $done (i32.eqz (local.get $k)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  (local.get $i))""")

_h("str_index_of", ("str_find", "cp_count"), """
(func $str_index_of (param $s i32) (param $t i32) (result i64) (local $b i32)
  (local.set $b (call $str_find (local.get $s) (local.get $t) (i32.const 0)))
  (if (i32.lt_s (local.get $b) (i32.const 0)) (then (return (i64.const -1))))
  (i64.extend_i32_u (call $cp_count (i32.load (local.get $s)) (local.get $b))))""")

_h("clamp_idx", (), """
(func $clamp_idx (param $v i64) (result i32)
  (if (i64.lt_s (local.get $v) (i64.const 0)) (then (return (i32.const 0))))
  (if (i64.gt_s (local.get $v) (i64.const 0x7fffffff)) (then (return (i32.const 0x7fffffff))))
  (i32.wrap_i64 (local.get $v)))""")

_h("str_slice", ("cp_offset", "cp_count", "mkstr", "clamp_idx"), """
(func $str_slice (param $s i32) (param $start i64) (param $end i64) (param $site i32) (result i32)
  (local $p i32) (local $n i32) (local $a i32) (local $b i32) (local $len i32)
  (local.set $p (i32.load (local.get $s))) (local.set $n (i32.load offset=4 (local.get $s)))
  (local.set $len (call $cp_count (local.get $p) (local.get $n)))
  (local.set $a (call $clamp_idx (local.get $start)))
  (local.set $b (if (result i32) (i64.le_s (local.get $end) (i64.const 0)) (then (local.get $len))
                  (else (call $clamp_idx (local.get $end)))))
  (if (i32.gt_u (local.get $b) (local.get $len)) (then (local.set $b (local.get $len))))
  (if (i32.ge_u (local.get $a) (local.get $b)) (then (return (call $mkstr (i32.const 0) (i32.const 0) (local.get $site)))))
  (local.set $a (call $cp_offset (local.get $p) (local.get $n) (local.get $a)))
  (local.set $b (call $cp_offset (local.get $p) (local.get $n) (local.get $b)))
  (call $mkstr (i32.add (local.get $p) (local.get $a)) (i32.sub (local.get $b) (local.get $a)) (local.get $site)))""")

_h("str_case", ("str_new",), """
(func $str_case (param $s i32) (param $lo i32) (param $site i32) (result i32)
  ;; ASCII case mapping: lo=1 maps A-Z to a-z, lo=0 maps a-z to A-Z
  (local $d i32) (local $p i32) (local $q i32) (local $n i32) (local $i i32) (local $c i32) (local $from i32)
  (local.set $n (i32.load offset=4 (local.get $s)))
  (local.set $p (i32.load (local.get $s)))
  (local.set $d (call $str_new (local.get $n) (local.get $site)))
  (local.set $q (i32.load (local.get $d)))
  (local.set $from (select (i32.const 65) (i32.const 97) (local.get $lo)))
  (block $done
    (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
      (if (i32.lt_u (i32.sub (local.get $c) (local.get $from)) (i32.const 26))
        (then (local.set $c (i32.xor (local.get $c) (i32.const 32)))))
      (i32.store8 (i32.add (local.get $q) (local.get $i)) (local.get $c))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  (local.get $d))""")

_h("is_ws", (), """
(func $is_ws (param $c i32) (result i32)
  (if (i32.lt_u (i32.sub (local.get $c) (i32.const 9)) (i32.const 5)) (then (return (i32.const 1))))
  (if (i32.lt_u (local.get $c) (i32.const 0x85)) (then (return (i32.eq (local.get $c) (i32.const 32)))))
  (if (i32.or (i32.eq (local.get $c) (i32.const 0x85)) (i32.eq (local.get $c) (i32.const 0xA0))) (then (return (i32.const 1))))
  (if (i32.eq (local.get $c) (i32.const 0x1680)) (then (return (i32.const 1))))
  (if (i32.lt_u (i32.sub (local.get $c) (i32.const 0x2000)) (i32.const 11)) (then (return (i32.const 1))))
  (if (i32.or (i32.eq (local.get $c) (i32.const 0x2028)) (i32.eq (local.get $c) (i32.const 0x2029))) (then (return (i32.const 1))))
  (if (i32.or (i32.eq (local.get $c) (i32.const 0x202F)) (i32.eq (local.get $c) (i32.const 0x205F))) (then (return (i32.const 1))))
  (i32.eq (local.get $c) (i32.const 0x3000)))""")

_h("cp_at", (), """
(func $cp_at (param $p i32) (result i32) (local $b i32)
  ;; decode the UTF-8 code point starting at p
  (local.set $b (i32.load8_u (local.get $p)))
  (if (i32.lt_u (local.get $b) (i32.const 0x80)) (then (return (local.get $b))))
  (if (i32.lt_u (local.get $b) (i32.const 0xE0)) (then
    (return (i32.or (i32.shl (i32.and (local.get $b) (i32.const 0x1F)) (i32.const 6))
                    (i32.and (i32.load8_u offset=1 (local.get $p)) (i32.const 0x3F))))))
  (if (i32.lt_u (local.get $b) (i32.const 0xF0)) (then
    (return (i32.or (i32.or (i32.shl (i32.and (local.get $b) (i32.const 0x0F)) (i32.const 12))
                            (i32.shl (i32.and (i32.load8_u offset=1 (local.get $p)) (i32.const 0x3F)) (i32.const 6)))
                    (i32.and (i32.load8_u offset=2 (local.get $p)) (i32.const 0x3F))))))
  (i32.or (i32.or (i32.shl (i32.and (local.get $b) (i32.const 0x07)) (i32.const 18))
                  (i32.shl (i32.and (i32.load8_u offset=1 (local.get $p)) (i32.const 0x3F)) (i32.const 12)))
          (i32.or (i32.shl (i32.and (i32.load8_u offset=2 (local.get $p)) (i32.const 0x3F)) (i32.const 6))
                  (i32.and (i32.load8_u offset=3 (local.get $p)) (i32.const 0x3F)))))""")

_h("cp_len", (), """
(func $cp_len (param $b i32) (result i32)
  (if (i32.lt_u (local.get $b) (i32.const 0x80)) (then (return (i32.const 1))))
  (if (i32.lt_u (local.get $b) (i32.const 0xE0)) (then (return (i32.const 2))))
  (if (i32.lt_u (local.get $b) (i32.const 0xF0)) (then (return (i32.const 3))))
  (i32.const 4))""")

_h("str_trim", ("is_ws", "cp_at", "cp_len", "mkstr"), """
(func $str_trim (param $s i32) (param $site i32) (result i32) (local $p i32) (local $i i32) (local $j i32) (local $k i32)
  (local.set $p (i32.load (local.get $s)))
  (local.set $j (i32.load offset=4 (local.get $s)))
  (block $done
    (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $j)))
      (br_if $done (i32.eqz (call $is_ws (call $cp_at (i32.add (local.get $p) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (call $cp_len (i32.load8_u (i32.add (local.get $p) (local.get $i))))))
      (br $l)))
  (block $done2
    (loop $l2
      (br_if $done2 (i32.le_u (local.get $j) (local.get $i)))
      (local.set $k (i32.sub (local.get $j) (i32.const 1)))
      (block $found
        (loop $back
          (br_if $found (i32.ne (i32.and (i32.load8_u (i32.add (local.get $p) (local.get $k))) (i32.const 0xC0)) (i32.const 0x80)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br $back)))
      (br_if $done2 (i32.eqz (call $is_ws (call $cp_at (i32.add (local.get $p) (local.get $k))))))
      (local.set $j (local.get $k))
      (br $l2)))
  (if (i32.and (i32.eqz (local.get $i)) (i32.eq (local.get $j) (i32.load offset=4 (local.get $s))))
    (then (return (local.get $s))))
  (call $mkstr (i32.add (local.get $p) (local.get $i)) (i32.sub (local.get $j) (local.get $i)) (local.get $site)))""")

_h("str_split", ("str_find", "alloc", "cp_len"), """
(func $str_split (param $s i32) (param $sep i32) (param $site i32) (result i32)
  (local $p i32) (local $n i32) (local $sl i32) (local $count i32) (local $i i32) (local $f i32)
  (local $arr i32) (local $d i32) (local $k i32) (local $start i32) (local $w i32)
  (local.set $p (i32.load (local.get $s))) (local.set $n (i32.load offset=4 (local.get $s)))
  (local.set $sl (i32.load offset=4 (local.get $sep)))
  (if (i32.eqz (local.get $sl)) (then
    ;; "" separator: one piece per code point plus an empty piece at each end
    (local.set $arr (call $alloc (i32.mul (i32.add (local.get $n) (i32.const 2)) (i32.const 8)) (i32.const 4) (local.get $site)))
    (i32.store (local.get $arr) (local.get $p)) (i32.store offset=4 (local.get $arr) (i32.const 0))
    (local.set $k (i32.const 1))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $w (call $cp_len (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
      (i32.store (i32.add (local.get $arr) (i32.shl (local.get $k) (i32.const 3))) (i32.add (local.get $p) (local.get $i)))
      (i32.store offset=4 (i32.add (local.get $arr) (i32.shl (local.get $k) (i32.const 3))) (local.get $w))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (local.get $w)))
      (br $l)))
    (i32.store (i32.add (local.get $arr) (i32.shl (local.get $k) (i32.const 3))) (i32.add (local.get $p) (local.get $n)))
    (i32.store offset=4 (i32.add (local.get $arr) (i32.shl (local.get $k) (i32.const 3))) (i32.const 0))
    (local.set $d (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
    (i32.store (local.get $d) (local.get $arr))
    (i32.store offset=4 (local.get $d) (i32.add (local.get $k) (i32.const 1)))
    (return (local.get $d))))
  (local.set $count (i32.const 1))
  (block $done (loop $l
    (local.set $f (call $str_find (local.get $s) (local.get $sep) (local.get $i)))
    (br_if $done (i32.lt_s (local.get $f) (i32.const 0)))
    (local.set $count (i32.add (local.get $count) (i32.const 1)))
    (local.set $i (i32.add (local.get $f) (local.get $sl)))
    (br $l)))
  (local.set $arr (call $alloc (i32.shl (local.get $count) (i32.const 3)) (i32.const 4) (local.get $site)))
  (local.set $i (i32.const 0))
  (local.set $k (i32.const 0))
  (block $done2 (loop $l2
    (local.set $f (call $str_find (local.get $s) (local.get $sep) (local.get $i)))
    (if (i32.lt_s (local.get $f) (i32.const 0)) (then (local.set $f (local.get $n))))
    (i32.store (i32.add (local.get $arr) (i32.shl (local.get $k) (i32.const 3))) (i32.add (local.get $p) (local.get $i)))
    (i32.store offset=4 (i32.add (local.get $arr) (i32.shl (local.get $k) (i32.const 3))) (i32.sub (local.get $f) (local.get $i)))
    (local.set $k (i32.add (local.get $k) (i32.const 1)))
    (br_if $done2 (i32.ge_u (local.get $k) (local.get $count)))
    (local.set $i (i32.add (local.get $f) (local.get $sl)))
    (br $l2)))
  (local.set $d (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
  (i32.store (local.get $d) (local.get $arr))
  (i32.store offset=4 (local.get $d) (local.get $count))
  (local.get $d))""")

_h("str_join", ("str_new",), """
(func $str_join (param $l i32) (param $sep i32) (param $site i32) (result i32)
  (local $arr i32) (local $n i32) (local $i i32) (local $total i32) (local $d i32) (local $q i32) (local $e i32) (local $sl i32)
  (local.set $arr (i32.load (local.get $l))) (local.set $n (i32.load offset=4 (local.get $l)))
  (local.set $sl (i32.load offset=4 (local.get $sep)))
  (block $done (loop $lp
    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
    (local.set $total (i32.add (local.get $total) (i32.load offset=4 (i32.add (local.get $arr) (i32.shl (local.get $i) (i32.const 3))))))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $lp)))
  (if (local.get $n) (then (local.set $total (i32.add (local.get $total)
        (i32.mul (local.get $sl) (i32.sub (local.get $n) (i32.const 1)))))))
  (local.set $d (call $str_new (local.get $total) (local.get $site)))
  (local.set $q (i32.load (local.get $d)))
  (local.set $i (i32.const 0))
  (block $done2 (loop $lp2
    (br_if $done2 (i32.ge_u (local.get $i) (local.get $n)))
    (if (local.get $i) (then
      (memory.copy (local.get $q) (i32.load (local.get $sep)) (local.get $sl))
      (local.set $q (i32.add (local.get $q) (local.get $sl)))))
    (local.set $e (i32.add (local.get $arr) (i32.shl (local.get $i) (i32.const 3))))
    (memory.copy (local.get $q) (i32.load (local.get $e)) (i32.load offset=4 (local.get $e)))
    (local.set $q (i32.add (local.get $q) (i32.load offset=4 (local.get $e))))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $lp2)))
  (local.get $d))""")

_h("str_replace", ("str_find", "str_new", "cp_len", "cp_count"), """
(func $str_replace (param $s i32) (param $pat i32) (param $rep i32) (param $site i32) (result i32)
  (local $p i32) (local $n i32) (local $pl i32) (local $rl i32) (local $count i32) (local $i i32) (local $f i32)
  (local $d i32) (local $q i32) (local $w i32)
  (local.set $p (i32.load (local.get $s))) (local.set $n (i32.load offset=4 (local.get $s)))
  (local.set $pl (i32.load offset=4 (local.get $pat))) (local.set $rl (i32.load offset=4 (local.get $rep)))
  (if (i32.eqz (local.get $pl)) (then
    ;; insert the replacement before every code point and at the end
    (local.set $count (i32.add (call $cp_count (local.get $p) (local.get $n)) (i32.const 1)))
    (local.set $d (call $str_new (i32.add (local.get $n) (i32.mul (local.get $count) (local.get $rl))) (local.get $site)))
    (local.set $q (i32.load (local.get $d)))
    (block $done (loop $l
      (memory.copy (local.get $q) (i32.load (local.get $rep)) (local.get $rl))
      (local.set $q (i32.add (local.get $q) (local.get $rl)))
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $w (call $cp_len (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
      (memory.copy (local.get $q) (i32.add (local.get $p) (local.get $i)) (local.get $w))
      (local.set $q (i32.add (local.get $q) (local.get $w)))
      (local.set $i (i32.add (local.get $i) (local.get $w)))
      (br $l)))
    (return (local.get $d))))
  (block $done (loop $l
    (local.set $f (call $str_find (local.get $s) (local.get $pat) (local.get $i)))
    (br_if $done (i32.lt_s (local.get $f) (i32.const 0)))
    (local.set $count (i32.add (local.get $count) (i32.const 1)))
    (local.set $i (i32.add (local.get $f) (local.get $pl)))
    (br $l)))
  (if (i32.eqz (local.get $count)) (then (return (local.get $s))))
  (local.set $d (call $str_new (i32.add (local.get $n) (i32.mul (local.get $count) (i32.sub (local.get $rl) (local.get $pl)))) (local.get $site)))
  (local.set $q (i32.load (local.get $d)))
  (local.set $i (i32.const 0))
  (block $done2 (loop $l2
    (local.set $f (call $str_find (local.get $s) (local.get $pat) (local.get $i)))
    (if (i32.lt_s (local.get $f) (i32.const 0)) (then (local.set $f (local.get $n))))
    (memory.copy (local.get $q) (i32.add (local.get $p) (local.get $i)) (i32.sub (local.get $f) (local.get $i)))
    (local.set $q (i32.add (local.get $q) (i32.sub (local.get $f) (local.get $i))))
    (br_if $done2 (i32.ge_u (local.get $f) (local.get $n)))
    (memory.copy (local.get $q) (i32.load (local.get $rep)) (local.get $rl))
    (local.set $q (i32.add (local.get $q) (local.get $rl)))
    (local.set $i (i32.add (local.get $f) (local.get $pl)))
    (br $l2)))
  (local.get $d))""")

_h("parse_int", ("alloc",), """
(func $parse_int (param $s i32) (param $site i32) (result i32)
  ;; to_int(String): optional sign then ASCII digits, in range; returns an option<s64> block
  (local $p i32) (local $n i32) (local $i i32) (local $neg i32) (local $acc i64) (local $d i64) (local $r i32)
  (local.set $p (i32.load (local.get $s))) (local.set $n (i32.load offset=4 (local.get $s)))
  (local.set $r (call $alloc (i32.const 16) (i32.const 8) (local.get $site)))
  (i32.store8 (local.get $r) (i32.const 0))
  (if (i32.eqz (local.get $n)) (then (return (local.get $r))))
  (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)) (then (local.set $neg (i32.const 1)) (local.set $i (i32.const 1)))
    (else (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 43)) (then (local.set $i (i32.const 1))))))
  (if (i32.ge_u (local.get $i) (local.get $n)) (then (return (local.get $r))))
  (block $done (loop $l
    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
    (local.set $d (i64.extend_i32_u (i32.sub (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 48))))
    (if (i64.gt_u (local.get $d) (i64.const 9)) (then (return (local.get $r))))
    ;; accumulate negatively so that the minimum fits: acc = acc * 10 - d
    (if (i64.lt_s (local.get $acc) (i64.const -922337203685477580)) (then (return (local.get $r))))
    (local.set $acc (i64.mul (local.get $acc) (i64.const 10)))
    (if (i64.lt_u (i64.sub (local.get $acc) (i64.const 0x8000000000000000)) (local.get $d)) (then (return (local.get $r))))
    (local.set $acc (i64.sub (local.get $acc) (local.get $d)))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $l)))
  (if (i32.eqz (local.get $neg)) (then
    (if (i64.eq (local.get $acc) (i64.const 0x8000000000000000)) (then (return (local.get $r))))
    (local.set $acc (i64.sub (i64.const 0) (local.get $acc)))))
  (i32.store8 (local.get $r) (i32.const 1))
  (i64.store offset=8 (local.get $r) (local.get $acc))
  (local.get $r))""")

_h("parse_float", ("alloc",), """
(func $parse_float (param $s i32) (param $site i32) (result i32) (local $r i32)
  (local.set $r (call $alloc (i32.const 16) (i32.const 8) (local.get $site)))
  (call $parse_f64 (i32.load (local.get $s)) (i32.load offset=4 (local.get $s)) (local.get $r))
  (local.get $r))""")

_h("list_index", ("trap_at", "itoa", "str_concat"), """
(func $list_index (param $l i32) (param $i i64) (param $esize i32) (param $site i32) (result i32)
  ;; address of element i (negative i counts from the end), or a bounds trap
  (local $n i64) (local $j i64) (local $m i32)
  (local.set $n (i64.extend_i32_u (i32.load offset=4 (local.get $l))))
  (local.set $j (if (result i64) (i64.lt_s (local.get $i) (i64.const 0))
                  (then (i64.add (local.get $i) (local.get $n))) (else (local.get $i))))
  (if (i32.or (i64.lt_s (local.get $j) (i64.const 0)) (i64.ge_s (local.get $j) (local.get $n)))
    (then
      (local.set $m (call $str_concat (call $str_concat (call $str_concat (i32.const {IDX1})
                      (call $itoa (local.get $i) (local.get $site)) (local.get $site)) (i32.const {IDX2}) (local.get $site))
                      (call $itoa (local.get $n) (local.get $site)) (local.get $site)))
      (call $trap_at (i32.load (local.get $m)) (i32.load offset=4 (local.get $m)) (local.get $site))))
  (i32.add (i32.load (local.get $l)) (i32.mul (i32.wrap_i64 (local.get $j)) (local.get $esize))))""")

_h("list_new", ("alloc",), """
(func $list_new (param $n i32) (param $esize i32) (param $align i32) (param $site i32) (result i32) (local $d i32)
  ;; a list descriptor with room for n elements (uninitialised)
  (local.set $d (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
  (i32.store (local.get $d) (call $alloc (i32.mul (local.get $n) (local.get $esize)) (local.get $align) (local.get $site)))
  (i32.store offset=4 (local.get $d) (local.get $n))
  (local.get $d))""")

_h("list_concat", ("list_new",), """
(func $list_concat (param $a i32) (param $b i32) (param $esize i32) (param $align i32) (param $site i32) (result i32)
  (local $d i32) (local $la i32) (local $lb i32)
  (local.set $la (i32.mul (i32.load offset=4 (local.get $a)) (local.get $esize)))
  (local.set $lb (i32.mul (i32.load offset=4 (local.get $b)) (local.get $esize)))
  (if (i32.eqz (local.get $lb)) (then (return (local.get $a))))
  (if (i32.eqz (local.get $la)) (then (return (local.get $b))))
  (local.set $d (call $list_new (i32.add (i32.load offset=4 (local.get $a)) (i32.load offset=4 (local.get $b)))
                                (local.get $esize) (local.get $align) (local.get $site)))
  (memory.copy (i32.load (local.get $d)) (i32.load (local.get $a)) (local.get $la))
  (memory.copy (i32.add (i32.load (local.get $d)) (local.get $la)) (i32.load (local.get $b)) (local.get $lb))
  (local.get $d))""")

_h("list_append", ("list_new", "alloc"), """
(func $list_append (param $a i32) (param $esize i32) (param $align i32) (param $site i32) (result i32)
  ;; a list one slot longer (the slot is uninitialised). Lists are immutable prefixes of their
  ;; arrays, so the array of the list made by the latest append may grow in place into its
  ;; spare capacity: any other list sharing that array is shorter and never sees the new slot,
  ;; and appending to it again (its end is not $app_end) copies. Capacity doubles on a copy,
  ;; which makes `xs = append(xs, v)` loops linear (SPEC 3.6, optional optimisation).
  (local $n i32) (local $p i32) (local $end i32) (local $cap i32) (local $arr i32) (local $d i32)
  (local.set $n (i32.load offset=4 (local.get $a)))
  (local.set $p (i32.load (local.get $a)))
  (local.set $end (i32.add (local.get $p) (i32.mul (local.get $n) (local.get $esize))))
  (if (i32.and (i32.ne (local.get $n) (i32.const 0))
        (i32.and (i32.eq (local.get $end) (global.get $app_end))
                 (i32.le_u (i32.add (local.get $end) (local.get $esize)) (global.get $app_cap))))
    (then
      (global.set $app_end (i32.add (local.get $end) (local.get $esize)))
      (local.set $d (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
      (i32.store (local.get $d) (local.get $p))
      (i32.store offset=4 (local.get $d) (i32.add (local.get $n) (i32.const 1)))
      (return (local.get $d))))
  (local.set $cap (i32.shl (i32.add (local.get $n) (i32.const 1)) (i32.const 1)))
  (if (i32.lt_u (local.get $cap) (i32.const 4)) (then (local.set $cap (i32.const 4))))
  (local.set $arr (call $alloc (i32.mul (local.get $cap) (local.get $esize)) (local.get $align) (local.get $site)))
  (memory.copy (local.get $arr) (local.get $p) (i32.mul (local.get $n) (local.get $esize)))
  (global.set $app_end (i32.add (local.get $arr) (i32.mul (i32.add (local.get $n) (i32.const 1)) (local.get $esize))))
  (global.set $app_cap (i32.add (local.get $arr) (i32.mul (local.get $cap) (local.get $esize))))
  (local.set $d (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
  (i32.store (local.get $d) (local.get $arr))
  (i32.store offset=4 (local.get $d) (i32.add (local.get $n) (i32.const 1)))
  (local.get $d))""")

_h("list_slice", ("alloc", "clamp_idx"), """
(func $list_slice (param $l i32) (param $start i64) (param $end i64) (param $esize i32) (param $site i32) (result i32)
  (local $n i32) (local $a i32) (local $b i32) (local $d i32)
  (local.set $n (i32.load offset=4 (local.get $l)))
  (local.set $a (call $clamp_idx (local.get $start)))
  (local.set $b (if (result i32) (i64.le_s (local.get $end) (i64.const 0)) (then (local.get $n))
                  (else (call $clamp_idx (local.get $end)))))
  (if (i32.gt_u (local.get $b) (local.get $n)) (then (local.set $b (local.get $n))))
  (if (i32.gt_u (local.get $a) (local.get $b)) (then (local.set $a (local.get $b))))
  (local.set $d (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))
  (i32.store (local.get $d) (i32.add (i32.load (local.get $l)) (i32.mul (local.get $a) (local.get $esize))))
  (i32.store offset=4 (local.get $d) (i32.sub (local.get $b) (local.get $a)))
  (local.get $d))""")

_h("list_reverse", ("list_new",), """
(func $list_reverse (param $l i32) (param $esize i32) (param $align i32) (param $site i32) (result i32)
  (local $n i32) (local $d i32) (local $i i32) (local $src i32) (local $dst i32)
  (local.set $n (i32.load offset=4 (local.get $l)))
  (local.set $d (call $list_new (local.get $n) (local.get $esize) (local.get $align) (local.get $site)))
  (local.set $src (i32.load (local.get $l)))
  (local.set $dst (i32.add (i32.load (local.get $d)) (i32.mul (local.get $n) (local.get $esize))))
  (block $done (loop $lp
    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
    (local.set $dst (i32.sub (local.get $dst) (local.get $esize)))
    (memory.copy (local.get $dst) (i32.add (local.get $src) (i32.mul (local.get $i) (local.get $esize))) (local.get $esize))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $lp)))
  (local.get $d))""")

def _insertion_sort(name: str, deps: tuple[str, ...], align: int, *, note: str = "", locals_: str = "",
                    setup: str = "", keep: str = "", in_order: str) -> None:
    """A stable insertion sort of a list of 8-byte elements into a new list (element alignment
    `align`). `in_order` is the WAT test that the element before $j may stay before $x, the element
    being placed; `locals_`, `setup` and `keep` (run once per $x) are what that test needs."""
    _h(name, deps, f"""
(func ${name} (param $l i32) (param $site i32) (result i32){note}
  (local $n i32) (local $d i32) (local $a i32) (local $i i32) (local $j i32) (local $x i64){locals_}
  (local.set $n (i32.load offset=4 (local.get $l)))
  (local.set $d (call $list_new (local.get $n) (i32.const 8) (i32.const {align}) (local.get $site)))
  (local.set $a (i32.load (local.get $d)))
  (memory.copy (local.get $a) (i32.load (local.get $l)) (i32.shl (local.get $n) (i32.const 3))){setup}
  (local.set $i (i32.const 1))
  (block $done (loop $outer
    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
    (local.set $x (i64.load (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 3))))){keep}
    (local.set $j (local.get $i))
    (block $placed (loop $inner
      (br_if $placed (i32.eqz (local.get $j)))
      (br_if $placed {in_order})
      (i64.store (i32.add (local.get $a) (i32.shl (local.get $j) (i32.const 3)))
                 (i64.load (i32.add (local.get $a) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 3)))))
      (local.set $j (i32.sub (local.get $j) (i32.const 1)))
      (br $inner)))
    (i64.store (i32.add (local.get $a) (i32.shl (local.get $j) (i32.const 3))) (local.get $x))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $outer)))
  (local.get $d))""")


_insertion_sort("sort_i64", ("list_new",), 8, in_order="""\
(i64.le_s (i64.load (i32.add (local.get $a) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 3))))
                               (local.get $x))""")

_insertion_sort(
    "sort_str", ("list_new", "str_cmp"), 4,
    note="\n  ;; stable insertion sort of string descriptors (8 bytes each) by UTF-8 bytes",
    locals_=" (local $tmp i32)",
    setup="\n  (local.set $tmp (call $alloc (i32.const 8) (i32.const 4) (local.get $site)))",
    keep="\n    (i64.store (local.get $tmp) (local.get $x))",
    in_order="""\
(i32.le_s (call $str_cmp (i32.add (local.get $a) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 3)))
                                              (local.get $tmp)) (i32.const 0))""")

_h("mul_chk", ("trap_at",), """
(func $mul_chk (param $a i64) (param $b i64) (param $site i32) (result i64) (local $r i64)
  (if (i32.and (i64.eq (local.get $b) (i64.const -1)) (i64.eq (local.get $a) (i64.const 0x8000000000000000)))
    (then (call $trap_at (i32.const {MUL_PTR}) (i32.const {MUL_LEN}) (local.get $site))))
  (local.set $r (i64.mul (local.get $a) (local.get $b)))
  (if (i64.ne (local.get $b) (i64.const 0))
    (then (if (i64.ne (i64.div_s (local.get $r) (local.get $b)) (local.get $a))
            (then (call $trap_at (i32.const {MUL_PTR}) (i32.const {MUL_LEN}) (local.get $site))))))
  (local.get $r))""")

_h("div_chk", ("trap_at",), """
(func $div_chk (param $a i64) (param $b i64) (param $site i32) (result i64)
  (if (i64.eqz (local.get $b)) (then (call $trap_at (i32.const {DIV0_PTR}) (i32.const {DIV0_LEN}) (local.get $site))))
  (if (i32.and (i64.eq (local.get $b) (i64.const -1)) (i64.eq (local.get $a) (i64.const 0x8000000000000000)))
    (then (call $trap_at (i32.const {DIVO_PTR}) (i32.const {DIVO_LEN}) (local.get $site))))
  (i64.div_s (local.get $a) (local.get $b)))""")

_h("fdiv_chk", ("trap_at",), """
(func $fdiv_chk (param $a i64) (param $b i64) (param $site i32) (result i64) (local $q i64)
  (if (i64.eqz (local.get $b)) (then (call $trap_at (i32.const {DIV0_PTR}) (i32.const {DIV0_LEN}) (local.get $site))))
  (if (i32.and (i64.eq (local.get $b) (i64.const -1)) (i64.eq (local.get $a) (i64.const 0x8000000000000000)))
    (then (call $trap_at (i32.const {FDIVO_PTR}) (i32.const {FDIVO_LEN}) (local.get $site))))
  (local.set $q (i64.div_s (local.get $a) (local.get $b)))
  (if (i64.lt_s (i64.rem_s (local.get $a) (local.get $b)) (i64.const 0))
    (then (local.set $q (if (result i64) (i64.gt_s (local.get $b) (i64.const 0))
                            (then (i64.sub (local.get $q) (i64.const 1)))
                            (else (i64.add (local.get $q) (i64.const 1)))))))
  (local.get $q))""")

_h("rem_chk", ("trap_at",), """
(func $rem_chk (param $a i64) (param $b i64) (param $site i32) (result i64) (local $r i64)
  (if (i64.eqz (local.get $b)) (then (call $trap_at (i32.const {DIV0_PTR}) (i32.const {DIV0_LEN}) (local.get $site))))
  (local.set $r (i64.rem_s (local.get $a) (local.get $b)))
  (if (i64.lt_s (local.get $r) (i64.const 0))
    (then (local.set $r (i64.add (local.get $r)
            (if (result i64) (i64.lt_s (local.get $b) (i64.const 0))
              (then (i64.sub (i64.const 0) (local.get $b))) (else (local.get $b)))))))
  (local.get $r))""")

_h("pow_chk", ("trap_at",), """
(func $pow_chk (param $base i64) (param $e i64) (param $site i32) (result i64) (local $acc i64)
  ;; square-and-multiply (SPEC Appendix B); every product is checked, so overflow traps
  (if (i64.lt_s (local.get $e) (i64.const 0)) (then (call $trap_at (i32.const {POW_PTR}) (i32.const {POW_LEN}) (local.get $site))))
  (if (i64.eqz (local.get $e)) (then (return (i64.const 1))))
  (local.set $acc (i64.const 1))
  (block $done (loop $l
    (br_if $done (i64.le_s (local.get $e) (i64.const 1)))
    (if (i64.ne (i64.and (local.get $e) (i64.const 1)) (i64.const 0))
      (then (local.set $acc (call $pow_mul (local.get $acc) (local.get $base) (local.get $site)))))
    (local.set $e (i64.shr_s (local.get $e) (i64.const 1)))
    (local.set $base (call $pow_mul (local.get $base) (local.get $base) (local.get $site)))
    (br $l)))
  (call $pow_mul (local.get $acc) (local.get $base) (local.get $site)))
(func $pow_mul (param $a i64) (param $b i64) (param $site i32) (result i64) (local $r i64)
  (if (i32.and (i64.eq (local.get $b) (i64.const -1)) (i64.eq (local.get $a) (i64.const 0x8000000000000000)))
    (then (call $trap_at (i32.const {POW_PTR}) (i32.const {POW_LEN}) (local.get $site))))
  (local.set $r (i64.mul (local.get $a) (local.get $b)))
  (if (i64.ne (local.get $b) (i64.const 0))
    (then (if (i64.ne (i64.div_s (local.get $r) (local.get $b)) (local.get $a))
            (then (call $trap_at (i32.const {POW_PTR}) (i32.const {POW_LEN}) (local.get $site))))))
  (local.get $r))""")

_h("round", (), """
(func $round (param $x f64) (result f64) (local $t f64)
  (local.set $t (f64.trunc (local.get $x)))
  (if (result f64) (f64.ge (f64.abs (f64.sub (local.get $x) (local.get $t))) (f64.const 0.5))
    (then (f64.add (local.get $t) (f64.copysign (f64.const 1) (local.get $x))))
    (else (local.get $t))))""")

_h("fmin", (), """
(func $fmin (param $a f64) (param $b f64) (result f64)
  (if (f64.ne (local.get $a) (local.get $a)) (then (return (local.get $b))))
  (if (f64.ne (local.get $b) (local.get $b)) (then (return (local.get $a))))
  (select (local.get $a) (local.get $b) (f64.lt (local.get $a) (local.get $b))))""")

_h("fmax", (), """
(func $fmax (param $a f64) (param $b f64) (result f64)
  (if (f64.ne (local.get $a) (local.get $a)) (then (return (local.get $b))))
  (if (f64.ne (local.get $b) (local.get $b)) (then (return (local.get $a))))
  (select (local.get $a) (local.get $b) (f64.gt (local.get $a) (local.get $b))))""")


def closure(names: set[str]) -> list[str]:
    """The helpers needed for `names`, dependencies included, in a deterministic order."""
    out: set[str] = set()
    stack = list(names)
    while stack:
        n = stack.pop()
        if n in out:
            continue
        out.add(n)
        stack.extend(HELPERS[n][0])
    return sorted(out)
