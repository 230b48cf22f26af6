(module
  (memory (export "memory") 1)
  ;; The audio watermark's offset scan at nominal speed (searchWindow and alignmentSums in
  ;; audio-watermark.ts): for every offset o of one period, the sync sums over the cells that
  ;; alignment visits, with the plain and the noise-aware weights. It was the largest single cost
  ;; of a nominal search in a CPU profile. Every value is the same IEEE double operation, in the
  ;; same order, as the JavaScript loop (WebAssembly has no fused multiply-add), so the sums are
  ;; bit-identical and no detection changes; a test compares the two. Compiled by
  ;; scripts/build-wasm.mjs into offset-scan-wasm.ts.
  ;;
  ;; Arrays (byte offsets, f64 unless said): weight, weight2 and sync, [a * 10 + pair] for start
  ;; frames a < starts; dither[cell] (cell = slot * 10 + pair, 270 of them) in cosine-table steps;
  ;; cos, 4096 entries. For offset o the cells are at a = o + m + k * L (k from the first a >= 0),
  ;; slot k mod 27. out gets four f64 per offset: num, den, num2, den2.
  ;;
  ;; With known != 0 (the known-payload test of audio-watermark.ts), the same walk also sums the
  ;; known codeword's correlation from a second index array (known, [a * 10 + pair]) and dither
  ;; table (kdither[cell]), with both weights: out then gets six f64 per offset, num, den, num2,
  ;; den2, knum, knum2. One walk serves both, so the weights are read and the cells found once.
  (func (export "offsetScan")
    (param $weight i32) (param $weight2 i32) (param $sync i32) (param $dither i32) (param $cos i32)
    (param $starts i32) (param $period i32) (param $L i32) (param $m i32) (param $out i32)
    (param $known i32) (param $kdither i32)
    (local $o i32) (local $a i32) (local $slot i32) (local $p i32) (local $idx i32) (local $k0 i32)
    (local $cell i32) (local $row i32) (local $stride i32)
    (local $w f64) (local $w2 f64) (local $c f64) (local $kc f64)
    (local $num f64) (local $den f64) (local $num2 f64) (local $den2 f64) (local $knum f64) (local $knum2 f64)
    (local.set $stride (select (i32.const 48) (i32.const 32) (local.get $known)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $offsets
        (br_if $done (i32.ge_s (local.get $o) (local.get $period)))
        (local.set $num (f64.const 0)) (local.set $den (f64.const 0))
        (local.set $num2 (f64.const 0)) (local.set $den2 (f64.const 0))
        (local.set $knum (f64.const 0)) (local.set $knum2 (f64.const 0))
        ;; first a >= 0: a = (o + m) mod L at k = -floor((o + m) / L)
        (local.set $a (i32.rem_u (i32.add (local.get $o) (local.get $m)) (local.get $L)))
        (local.set $k0 (i32.div_u (i32.add (local.get $o) (local.get $m)) (local.get $L)))
        ;; slot of k = -k0, in 0..26
        (local.set $slot (i32.rem_u (i32.sub (i32.const 27) (i32.rem_u (local.get $k0) (i32.const 27))) (i32.const 27)))
        (block $cellsDone
          (loop $cells
            (br_if $cellsDone (i32.ge_s (local.get $a) (local.get $starts)))
            (local.set $p (i32.const 0))
            (loop $pairs
              (local.set $idx (i32.add (i32.mul (local.get $a) (i32.const 10)) (local.get $p)))
              (local.set $w (f64.load (i32.add (local.get $weight) (i32.shl (local.get $idx) (i32.const 3)))))
              (if (f64.ne (local.get $w) (f64.const 0))
                (then
                  (local.set $row (i32.shl (local.get $idx) (i32.const 3)))
                  (local.set $cell (i32.shl (i32.add (i32.mul (local.get $slot) (i32.const 10)) (local.get $p)) (i32.const 3)))
                  (local.set $c
                    (f64.load (i32.add (local.get $cos) (i32.shl
                      (i32.and
                        (i32.trunc_sat_f64_s
                          (f64.sub
                            (f64.load (i32.add (local.get $sync) (local.get $row)))
                            (f64.load (i32.add (local.get $dither) (local.get $cell)))))
                        (i32.const 4095))
                      (i32.const 3)))))
                  (local.set $num (f64.add (local.get $num) (f64.mul (local.get $w) (local.get $c))))
                  (local.set $den (f64.add (local.get $den) (f64.mul (local.get $w) (local.get $w))))
                  (local.set $w2 (f64.load (i32.add (local.get $weight2) (local.get $row))))
                  (local.set $num2 (f64.add (local.get $num2) (f64.mul (local.get $w2) (local.get $c))))
                  (local.set $den2 (f64.add (local.get $den2) (f64.mul (local.get $w2) (local.get $w2))))
                  (if (local.get $known)
                    (then
                      (local.set $kc
                        (f64.load (i32.add (local.get $cos) (i32.shl
                          (i32.and
                            (i32.trunc_sat_f64_s
                              (f64.sub
                                (f64.load (i32.add (local.get $known) (local.get $row)))
                                (f64.load (i32.add (local.get $kdither) (local.get $cell)))))
                            (i32.const 4095))
                          (i32.const 3)))))
                      (local.set $knum (f64.add (local.get $knum) (f64.mul (local.get $w) (local.get $kc))))
                      (local.set $knum2 (f64.add (local.get $knum2) (f64.mul (local.get $w2) (local.get $kc))))))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br_if $pairs (i32.lt_u (local.get $p) (i32.const 10))))
            (local.set $a (i32.add (local.get $a) (local.get $L)))
            (local.set $slot (i32.add (local.get $slot) (i32.const 1)))
            (if (i32.eq (local.get $slot) (i32.const 27)) (then (local.set $slot (i32.const 0))))
            (br $cells)))
        (local.set $row (i32.add (local.get $out) (i32.mul (local.get $o) (local.get $stride))))
        (f64.store (local.get $row) (local.get $num))
        (f64.store offset=8 (local.get $row) (local.get $den))
        (f64.store offset=16 (local.get $row) (local.get $num2))
        (f64.store offset=24 (local.get $row) (local.get $den2))
        (if (local.get $known)
          (then
            (f64.store offset=32 (local.get $row) (local.get $knum))
            (f64.store offset=40 (local.get $row) (local.get $knum2))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $offsets)))))
