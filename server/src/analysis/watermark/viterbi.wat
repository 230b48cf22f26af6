(module
  (memory (export "memory") 1)
  ;; Soft-input Viterbi decoder of the rate-1/2, K = 7 convolutional code (ecc.ts), for the
  ;; watermark payloads: an audio detection decodes some hundred and eighty candidate words, and
  ;; the JavaScript decoder was about a fifteenth of its time. Compiled by scripts/build-wasm.mjs
  ;; into viterbi-wasm.ts; a test checks that the committed bytes are this file's, and another
  ;; holds the decisions to the textbook loop. Each step is the JavaScript's (ecc.ts): the same
  ;; double additions and comparisons in the same order, so the decoded bits are the same.
  ;;
  ;; Memory (byte offsets): 0 branch outputs (128 u8: predecessor state * 2 + input -> index of
  ;; its branch metric), 128 the four branch metrics (f64), 256 and 768 the two metric rows
  ;; (64 f64 each), 1280 the soft input (2 f64 per step), then the decisions (64 u8 per step,
  ;; at $back) and the decoded bits (1 u8 per step, at $bits).
  (func (export "viterbi") (param $steps i32) (param $info i32) (param $back i32) (param $bits i32)
    (local $t i32) (local $i i32) (local $lo i32) (local $b i32) (local $ns i32) (local $inputs i32)
    (local $cur i32) (local $nxt i32) (local $tmp i32) (local $row i32) (local $state i32) (local $won i32)
    (local $s0 f64) (local $s1 f64) (local $mLo f64) (local $mHi f64) (local $vLo f64) (local $vHi f64) (local $best f64)
    (local.set $cur (i32.const 256))
    (local.set $nxt (i32.const 768))
    ;; start in state 0: every other state unreachable
    (local.set $i (i32.const 0))
    (loop $init
      (f64.store (i32.add (local.get $cur) (i32.shl (local.get $i) (i32.const 3))) (f64.const -inf))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $init (i32.lt_u (local.get $i) (i32.const 64))))
    (f64.store (local.get $cur) (f64.const 0))
    (local.set $t (i32.const 0))
    (block $forwardDone
      (loop $forward
        (br_if $forwardDone (i32.ge_s (local.get $t) (local.get $steps)))
        (local.set $s0 (f64.load (i32.add (i32.const 1280) (i32.shl (local.get $t) (i32.const 4)))))
        (local.set $s1 (f64.load offset=8 (i32.add (i32.const 1280) (i32.shl (local.get $t) (i32.const 4)))))
        ;; metric of a branch with outputs (o1, o2): (o1 ? -s0 : s0) + (o2 ? -s1 : s1)
        (f64.store (i32.const 128) (f64.add (local.get $s0) (local.get $s1)))
        (f64.store (i32.const 136) (f64.add (local.get $s0) (f64.neg (local.get $s1))))
        (f64.store (i32.const 144) (f64.add (f64.neg (local.get $s0)) (local.get $s1)))
        (f64.store (i32.const 152) (f64.add (f64.neg (local.get $s0)) (f64.neg (local.get $s1))))
        (local.set $row (i32.add (local.get $back) (i32.shl (local.get $t) (i32.const 6))))
        ;; while the zero tail flushes the register only input 0 occurs
        (local.set $inputs (select (i32.const 2) (i32.const 1) (i32.lt_s (local.get $t) (local.get $info))))
        (local.set $lo (i32.const 0))
        (loop $butterflies
          (local.set $mLo (f64.load (i32.add (local.get $cur) (i32.shl (local.get $lo) (i32.const 3)))))
          (local.set $mHi (f64.load (i32.add (local.get $cur) (i32.shl (i32.or (local.get $lo) (i32.const 32)) (i32.const 3)))))
          (local.set $b (i32.const 0))
          (loop $inputsLoop
            (local.set $ns (i32.or (i32.shl (local.get $lo) (i32.const 1)) (local.get $b)))
            (local.set $vLo (f64.add (local.get $mLo)
              (f64.load (i32.add (i32.const 128) (i32.shl (i32.load8_u (i32.or (i32.shl (local.get $lo) (i32.const 1)) (local.get $b))) (i32.const 3))))))
            (local.set $vHi (f64.add (local.get $mHi)
              (f64.load (i32.add (i32.const 128) (i32.shl (i32.load8_u (i32.or (i32.shl (i32.or (local.get $lo) (i32.const 32)) (i32.const 1)) (local.get $b))) (i32.const 3))))))
            (local.set $best (f64.const -inf))
            (local.set $won (i32.const 0))
            (if (f64.gt (local.get $vLo) (local.get $best)) (then (local.set $best (local.get $vLo))))
            (if (f64.gt (local.get $vHi) (local.get $best)) (then (local.set $best (local.get $vHi)) (local.set $won (i32.const 1))))
            (i32.store8 (i32.add (local.get $row) (local.get $ns)) (local.get $won))
            (f64.store (i32.add (local.get $nxt) (i32.shl (local.get $ns) (i32.const 3))) (local.get $best))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br_if $inputsLoop (i32.lt_s (local.get $b) (local.get $inputs))))
          (if (i32.eq (local.get $inputs) (i32.const 1))
            (then
              (local.set $ns (i32.or (i32.shl (local.get $lo) (i32.const 1)) (i32.const 1)))
              (i32.store8 (i32.add (local.get $row) (local.get $ns)) (i32.const 0))
              (f64.store (i32.add (local.get $nxt) (i32.shl (local.get $ns) (i32.const 3))) (f64.const -inf))))
          (local.set $lo (i32.add (local.get $lo) (i32.const 1)))
          (br_if $butterflies (i32.lt_u (local.get $lo) (i32.const 32))))
        (local.set $tmp (local.get $cur))
        (local.set $cur (local.get $nxt))
        (local.set $nxt (local.get $tmp))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $forward)))
    ;; trace back from state 0 (the tail forces it)
    (local.set $state (i32.const 0))
    (local.set $t (local.get $steps))
    (block $traceDone
      (loop $trace
        (br_if $traceDone (i32.le_s (local.get $t) (i32.const 0)))
        (local.set $t (i32.sub (local.get $t) (i32.const 1)))
        (i32.store8 (i32.add (local.get $bits) (local.get $t)) (i32.and (local.get $state) (i32.const 1)))
        (local.set $state
          (i32.or
            (i32.shr_u (local.get $state) (i32.const 1))
            (i32.shl (i32.load8_u (i32.add (i32.add (local.get $back) (i32.shl (local.get $t) (i32.const 6))) (local.get $state))) (i32.const 5))))
        (br $trace)))))
