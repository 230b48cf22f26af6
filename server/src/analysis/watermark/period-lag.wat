(module
  (memory (export "memory") 1)
  ;; The inner loop of the audio watermark's period scan (periodLagZ in audio-watermark.ts): for
  ;; one lag and one analysis phase, the products of every tile with the tile one period later,
  ;; summed per position class within the slot. It was over a third of the scan's time in a CPU
  ;; profile, and the scan is most of what default detection costs on unmarked input. Compiled
  ;; by scripts/build-wasm.mjs into period-lag-wasm.ts; a test checks that the committed bytes are
  ;; this file's, and another holds its sums to a plain loop in double precision.
  ;;
  ;; Tiles are 16 f32 (64 bytes) each, one per start frame, for the five high band pairs q:
  ;;   [c0 s0 c1 s1 | c2 s2 c3 s3 | c4 s4 w4 0 | w0 w1 w2 w3]
  ;; with c = w*cos(2 pi u), s = w*sin(2 pi u) and wq = w^2 of pair q. For tiles b (base) and o (other)
  ;; the lag statistic adds sum over q of (c*c' + s*s') to num[class] and sum over q of w*w' to den[class] (f64).
  ;;
  ;; $pos is the base tile's start within the slot as played (samples); it advances by $hop per
  ;; tile and wraps at $slot (which is larger than $hop); class = min(classes - 1, floor(pos * perSample)).
  (func (export "lagSums")
    (param $b i32) (param $o i32) (param $n i32) (param $pos f64) (param $hop f64) (param $slot f64)
    (param $perSample f64) (param $classes i32) (param $num i32) (param $den i32)
    (local $end i32) (local $cl i32) (local $last i32) (local $addr i32)
    (local $cs v128) (local $mixed v128) (local $ww v128)
    (local $cn f32) (local $cd f32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $end (i32.add (local.get $b) (i32.shl (local.get $n) (i32.const 6))))
    (local.set $last (i32.sub (local.get $classes) (i32.const 1)))
    (loop $tiles
      (if (f64.ge (local.get $pos) (local.get $slot))
        (then (local.set $pos (f64.sub (local.get $pos) (local.get $slot)))))
      (local.set $cl (i32.trunc_f64_s (f64.mul (local.get $pos) (local.get $perSample))))
      (if (i32.gt_s (local.get $cl) (local.get $last)) (then (local.set $cl (local.get $last))))
      ;; pairs 0-3: cos and sin products
      (local.set $cs
        (f32x4.add
          (f32x4.mul (v128.load (local.get $b)) (v128.load (local.get $o)))
          (f32x4.mul (v128.load offset=16 (local.get $b)) (v128.load offset=16 (local.get $o)))))
      ;; pair 4's cos and sin products, and its weight product in lane 2
      (local.set $mixed (f32x4.mul (v128.load offset=32 (local.get $b)) (v128.load offset=32 (local.get $o))))
      (local.set $ww (f32x4.mul (v128.load offset=48 (local.get $b)) (v128.load offset=48 (local.get $o))))
      (local.set $cn
        (f32.add
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $cs)) (f32x4.extract_lane 1 (local.get $cs)))
            (f32.add (f32x4.extract_lane 2 (local.get $cs)) (f32x4.extract_lane 3 (local.get $cs))))
          (f32.add (f32x4.extract_lane 0 (local.get $mixed)) (f32x4.extract_lane 1 (local.get $mixed)))))
      (local.set $cd
        (f32.add
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $ww)) (f32x4.extract_lane 1 (local.get $ww)))
            (f32.add (f32x4.extract_lane 2 (local.get $ww)) (f32x4.extract_lane 3 (local.get $ww))))
          (f32x4.extract_lane 2 (local.get $mixed))))
      (local.set $addr (i32.add (local.get $num) (i32.shl (local.get $cl) (i32.const 3))))
      (f64.store (local.get $addr) (f64.add (f64.load (local.get $addr)) (f64.promote_f32 (local.get $cn))))
      (local.set $addr (i32.add (local.get $den) (i32.shl (local.get $cl) (i32.const 3))))
      (f64.store (local.get $addr) (f64.add (f64.load (local.get $addr)) (f64.promote_f32 (local.get $cd))))
      (local.set $pos (f64.add (local.get $pos) (local.get $hop)))
      (local.set $b (i32.add (local.get $b) (i32.const 64)))
      (local.set $o (i32.add (local.get $o) (i32.const 64)))
      (br_if $tiles (i32.lt_u (local.get $b) (local.get $end))))))
