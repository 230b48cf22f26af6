(module
  (memory (export "memory") 1)
  ;; The two inner loops of the audio watermark's period scan (audio-watermark.ts), the larger
  ;; part of what default detection costs on unmarked input:
  ;; - lagSums (periodLagZ): for one lag and one analysis phase, the products of every tile with
  ;;   the tile one period later, summed per position class within the slot;
  ;; - tileCells (scaledHighTiles): the tiles themselves, from tapered band sums (a log and two
  ;;   table lookups per cell; at the end of this file).
  ;; Compiled by scripts/build-wasm.mjs into period-lag-wasm.ts; a test checks that the committed
  ;; bytes are this file's, others hold lagSums to a plain loop in double precision, tileCells to
  ;; the JavaScript loop it replaces, and its log to Math.log.
  ;;
  ;; Memory (period-lag-kernel.ts): num and den sums (128 f64 each), the cosine table (4096 f64),
  ;; five pair factors, lagSums' per-class accumulators (128 x 32 bytes), then tiles and band-sum
  ;; rows from a bump allocator.
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
    (param $perSample f64) (param $classes i32) (param $num i32) (param $den i32) (param $acc i32)
    (local $end i32) (local $cl i32) (local $last i32) (local $addr i32) (local $c i32)
    (local $cs v128) (local $mixed v128) (local $ww v128) (local $v v128)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    ;; Per class, two f32x4 accumulators (num lanes, den lanes) at $acc + 32 * class: a tile's
    ;; products are added lane-wise there, and the lanes are summed in double once per call,
    ;; instead of reducing every tile's ten products to a scalar (what this loop spent most of
    ;; its time on). A class collects at most n / classes + 1 tiles per call.
    (local.set $c (i32.const 0))
    (loop $zero
      (local.set $addr (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 5))))
      (v128.store (local.get $addr) (v128.const i32x4 0 0 0 0))
      (v128.store offset=16 (local.get $addr) (v128.const i32x4 0 0 0 0))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $zero (i32.lt_s (local.get $c) (local.get $classes))))
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
      ;; pair 4's cos and sin products (lanes 0, 1), and its weight product in lane 2
      (local.set $mixed (f32x4.mul (v128.load offset=32 (local.get $b)) (v128.load offset=32 (local.get $o))))
      (local.set $ww (f32x4.mul (v128.load offset=48 (local.get $b)) (v128.load offset=48 (local.get $o))))
      (local.set $addr (i32.add (local.get $acc) (i32.shl (local.get $cl) (i32.const 5))))
      (v128.store (local.get $addr)
        (f32x4.add (v128.load (local.get $addr))
          (f32x4.add (local.get $cs) (v128.and (local.get $mixed) (v128.const i32x4 -1 -1 0 0)))))
      (v128.store offset=16 (local.get $addr)
        (f32x4.add (v128.load offset=16 (local.get $addr))
          (f32x4.add (local.get $ww) (v128.and (local.get $mixed) (v128.const i32x4 0 0 -1 0)))))
      (local.set $pos (f64.add (local.get $pos) (local.get $hop)))
      (local.set $b (i32.add (local.get $b) (i32.const 64)))
      (local.set $o (i32.add (local.get $o) (i32.const 64)))
      (br_if $tiles (i32.lt_u (local.get $b) (local.get $end))))
    ;; Each class's lanes, summed in double, into num[class] and den[class].
    (local.set $c (i32.const 0))
    (loop $reduce
      (local.set $addr (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 5))))
      (local.set $v (v128.load (local.get $addr)))
      (local.set $v (f64x2.add (f64x2.promote_low_f32x4 (local.get $v))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
      (local.set $cl (i32.add (local.get $num) (i32.shl (local.get $c) (i32.const 3))))
      (f64.store (local.get $cl) (f64.add (f64.load (local.get $cl))
        (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v)))))
      (local.set $v (v128.load offset=16 (local.get $addr)))
      (local.set $v (f64x2.add (f64x2.promote_low_f32x4 (local.get $v))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
      (local.set $cl (i32.add (local.get $den) (i32.shl (local.get $c) (i32.const 3))))
      (f64.store (local.get $cl) (f64.add (f64.load (local.get $cl))
        (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v)))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $reduce (i32.lt_s (local.get $c) (local.get $classes)))))

  ;; Natural log of two positive normal doubles (what tileCells takes logs of: ratios of sums
  ;; floored at 1e-24). Our own: x = 2^k * m with m moved into [sqrt(1/2), sqrt(2)], then
  ;; ln m = 2 atanh(s) with s = (m - 1)/(m + 1), |s| <= 0.1716, as the series 2s(1 + s^2/3 + ...
  ;; + s^12/13). The first term left out is below 5e-13; a test holds it to Math.log.
  (func $ln (param $x v128) (result v128)
    (local $t v128) (local $k v128) (local $m v128) (local $big v128) (local $s v128) (local $z v128) (local $p v128)
    ;; exponent bits of each lane, moved into i32 lanes 0 and 1, unbiased, as doubles
    (local.set $t (i64x2.shr_u (local.get $x) (i32.const 52)))
    (local.set $k
      (f64x2.convert_low_i32x4_s
        (i32x4.sub
          (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 (local.get $t) (local.get $t))
          (i32x4.splat (i32.const 1023)))))
    ;; mantissa with the exponent of 1.0: m in [1, 2)
    (local.set $m
      (v128.or
        (v128.and (local.get $x) (i64x2.splat (i64.const 0x000fffffffffffff)))
        (i64x2.splat (i64.const 0x3ff0000000000000))))
    (local.set $big (f64x2.gt (local.get $m) (f64x2.splat (f64.const 1.4142135623730951))))
    (local.set $m (v128.bitselect (f64x2.mul (local.get $m) (f64x2.splat (f64.const 0.5))) (local.get $m) (local.get $big)))
    (local.set $k (f64x2.add (local.get $k) (v128.and (local.get $big) (f64x2.splat (f64.const 1)))))
    (local.set $s
      (f64x2.div
        (f64x2.sub (local.get $m) (f64x2.splat (f64.const 1)))
        (f64x2.add (local.get $m) (f64x2.splat (f64.const 1)))))
    (local.set $z (f64x2.mul (local.get $s) (local.get $s)))
    (local.set $p (f64x2.splat (f64.const 0.15384615384615385))) ;; 2/13
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (f64x2.splat (f64.const 0.18181818181818182)))) ;; 2/11
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (f64x2.splat (f64.const 0.2222222222222222)))) ;; 2/9
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (f64x2.splat (f64.const 0.2857142857142857)))) ;; 2/7
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (f64x2.splat (f64.const 0.4)))) ;; 2/5
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (f64x2.splat (f64.const 0.6666666666666666)))) ;; 2/3
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (f64x2.splat (f64.const 2))))
    (f64x2.add
      (f64x2.mul (local.get $k) (f64x2.splat (f64.const 0.6931471805599453)))
      (f64x2.mul (local.get $s) (local.get $p))))

  ;; Exported for the test that holds $ln to Math.log: ln of the doubles at $p and $p + 8.
  (func (export "ln2") (param $p i32)
    (v128.store (local.get $p) (call $ln (v128.load (local.get $p)))))

  ;; cos(2 pi t) from the 4096-entry table at $cos: the fractional turn's entry, as cosTurns in
  ;; audio-watermark.ts reads it.
  (func $cosTurns (param $cos i32) (param $t f64) (result f64)
    (local $f f64)
    (local.set $f (f64.sub (local.get $t) (f64.floor (local.get $t))))
    (f64.load
      (i32.add (local.get $cos)
        (i32.shl
          (i32.and (i32.trunc_f64_s (f64.mul (local.get $f) (f64.const 4096))) (i32.const 4095))
          (i32.const 3)))))

  ;; The period scan's tile cells (scaledHighTiles in audio-watermark.ts), two start frames at a
  ;; time: for each start a and high pair q, from the pair's tapered band sums s1, s2 (f64 rows
  ;; 2q and 2q + 1, $stride bytes apart from $sums) and the tile energy e (f64 at $etile):
  ;;   e' = e + 1e-30, eps = 1e-6 e' + 1e-24, share = bands * min(s1, s2) / e',
  ;;   w = share / (share + knee), u = ln((s1 + eps) / (s2 + eps)) * factor[q] * invDelta,
  ;; and where w > 0.05 writes w cos(2 pi u), w sin(2 pi u) and w^2 into the tile at
  ;; $out + 64 a (layout above; the tiles arrive zeroed). Every step but the log is the same
  ;; double operation as the JavaScript's, in the same order.
  (func (export "tileCells")
    (param $sums i32) (param $stride i32) (param $etile i32) (param $starts i32) (param $out i32)
    (param $cos i32) (param $factors i32) (param $bands f64) (param $knee f64) (param $invDelta f64)
    (local $a i32) (local $q i32) (local $row i32) (local $lanes i32) (local $lane i32) (local $tile i32)
    (local $e v128) (local $eps v128) (local $s1 v128) (local $s2 v128) (local $share v128)
    (local $w v128) (local $keep v128) (local $u v128)
    (local $wl f64) (local $ul f64) (local $kept i64)
    (block $done
      (loop $eachStart
        (br_if $done (i32.ge_s (local.get $a) (local.get $starts)))
        ;; the last start of an odd count is lane 0 alone (lane 1 reads one value past its rows)
        (local.set $lanes (select (i32.const 2) (i32.const 1) (i32.lt_s (i32.add (local.get $a) (i32.const 1)) (local.get $starts))))
        (local.set $e (f64x2.add (v128.load (i32.add (local.get $etile) (i32.shl (local.get $a) (i32.const 3)))) (f64x2.splat (f64.const 1e-30))))
        (local.set $eps (f64x2.add (f64x2.mul (f64x2.splat (f64.const 1e-6)) (local.get $e)) (f64x2.splat (f64.const 1e-24))))
        (local.set $q (i32.const 0))
        (loop $pairs
          (local.set $row (i32.add (local.get $sums)
            (i32.add (i32.mul (i32.shl (local.get $q) (i32.const 1)) (local.get $stride)) (i32.shl (local.get $a) (i32.const 3)))))
          (local.set $s1 (v128.load (local.get $row)))
          (local.set $s2 (v128.load (i32.add (local.get $row) (local.get $stride))))
          (local.set $share (f64x2.div (f64x2.mul (f64x2.splat (local.get $bands)) (f64x2.min (local.get $s1) (local.get $s2))) (local.get $e)))
          (local.set $w (f64x2.div (local.get $share) (f64x2.add (local.get $share) (f64x2.splat (local.get $knee)))))
          (local.set $keep (f64x2.gt (local.get $w) (f64x2.splat (f64.const 0.05))))
          (if (v128.any_true (local.get $keep))
            (then
              (local.set $u
                (f64x2.mul
                  (f64x2.mul
                    (call $ln (f64x2.div (f64x2.add (local.get $s1) (local.get $eps)) (f64x2.add (local.get $s2) (local.get $eps))))
                    (f64x2.splat (f64.load (i32.add (local.get $factors) (i32.shl (local.get $q) (i32.const 3))))))
                  (f64x2.splat (local.get $invDelta))))
              (local.set $lane (i32.const 0))
              (loop $each
                (if (local.get $lane)
                  (then
                    (local.set $wl (f64x2.extract_lane 1 (local.get $w)))
                    (local.set $ul (f64x2.extract_lane 1 (local.get $u)))
                    (local.set $kept (i64x2.extract_lane 1 (local.get $keep))))
                  (else
                    (local.set $wl (f64x2.extract_lane 0 (local.get $w)))
                    (local.set $ul (f64x2.extract_lane 0 (local.get $u)))
                    (local.set $kept (i64x2.extract_lane 0 (local.get $keep)))))
                (if (i64.ne (local.get $kept) (i64.const 0))
                  (then
                    (local.set $tile (i32.add (local.get $out) (i32.shl (i32.add (local.get $a) (local.get $lane)) (i32.const 6))))
                    ;; cos and sin at floats 2q, 2q + 1; w^2 at float 12 + q (pairs 0-3) or 10 (pair 4)
                    (f32.store (i32.add (local.get $tile) (i32.shl (local.get $q) (i32.const 3)))
                      (f32.demote_f64 (f64.mul (local.get $wl) (call $cosTurns (local.get $cos) (local.get $ul)))))
                    (f32.store offset=4 (i32.add (local.get $tile) (i32.shl (local.get $q) (i32.const 3)))
                      (f32.demote_f64 (f64.mul (local.get $wl) (call $cosTurns (local.get $cos) (f64.sub (local.get $ul) (f64.const 0.25))))))
                    (f32.store
                      (i32.add (local.get $tile)
                        (select (i32.const 40) (i32.add (i32.const 48) (i32.shl (local.get $q) (i32.const 2))) (i32.eq (local.get $q) (i32.const 4))))
                      (f32.demote_f64 (f64.mul (local.get $wl) (local.get $wl))))))
                (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
                (br_if $each (i32.lt_s (local.get $lane) (local.get $lanes))))))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br_if $pairs (i32.lt_s (local.get $q) (i32.const 5))))
        (local.set $a (i32.add (local.get $a) (i32.const 2)))
        (br $eachStart))))

  ;; One scaled band's tapered tile sums (scaledBand and trapezoidSums in audio-watermark.ts,
  ;; fused, the same double operations in the same order): per frame f, the band's energy from
  ;; the running bin sums (f64 rows of $frames values at $cum; the band's edges fall in rows
  ;; $jl and $jh, element offsets, at fractions $fl and $fh), then its running sum P, the
  ;; running sum Q of P's $ramp-frame boxes, and out[a] = max(0, (Q[a + n] - Q[a]) / ramp) for
  ;; a < $starts. P and Q live at $scratch (2 ($frames + 1) f64).
  (func (export "bandSums")
    (param $cum i32) (param $frames i32) (param $jl i32) (param $fl f64) (param $jh i32) (param $fh f64)
    (param $n i32) (param $ramp i32) (param $starts i32) (param $scratch i32) (param $out i32)
    (local $f i32) (local $lo i32) (local $hi i32) (local $row i32) (local $qs i32) (local $boxes i32)
    (local $below f64) (local $above f64) (local $p f64) (local $q f64) (local $r f64)
    (local.set $row (i32.shl (local.get $frames) (i32.const 3)))
    (local.set $lo (i32.add (local.get $cum) (i32.shl (local.get $jl) (i32.const 3))))
    (local.set $hi (i32.add (local.get $cum) (i32.shl (local.get $jh) (i32.const 3))))
    (f64.store (local.get $scratch) (f64.const 0))
    (local.set $f (i32.const 0))
    (block $bandDone
      (loop $band
        (br_if $bandDone (i32.ge_s (local.get $f) (local.get $frames)))
        (local.set $below
          (f64.add (f64.load (local.get $hi))
            (f64.mul (local.get $fh) (f64.sub (f64.load (i32.add (local.get $hi) (local.get $row))) (f64.load (local.get $hi))))))
        (local.set $above
          (f64.add (f64.load (local.get $lo))
            (f64.mul (local.get $fl) (f64.sub (f64.load (i32.add (local.get $lo) (local.get $row))) (f64.load (local.get $lo))))))
        (local.set $p
          (f64.add (local.get $p)
            (select (f64.sub (local.get $below) (local.get $above)) (f64.const 0) (f64.gt (local.get $below) (local.get $above)))))
        (local.set $f (i32.add (local.get $f) (i32.const 1)))
        (f64.store (i32.add (local.get $scratch) (i32.shl (local.get $f) (i32.const 3))) (local.get $p))
        (local.set $lo (i32.add (local.get $lo) (i32.const 8)))
        (local.set $hi (i32.add (local.get $hi) (i32.const 8)))
        (br $band)))
    ;; Q after P
    (local.set $qs (i32.add (local.get $scratch) (i32.shl (i32.add (local.get $frames) (i32.const 1)) (i32.const 3))))
    (f64.store (local.get $qs) (f64.const 0))
    (local.set $boxes (i32.add (i32.sub (local.get $frames) (local.get $ramp)) (i32.const 1)))
    (local.set $f (i32.const 0))
    (block $boxDone
      (loop $box
        (br_if $boxDone (i32.ge_s (local.get $f) (local.get $boxes)))
        (local.set $q
          (f64.add (local.get $q)
            (f64.sub
              (f64.load (i32.add (local.get $scratch) (i32.shl (i32.add (local.get $f) (local.get $ramp)) (i32.const 3))))
              (f64.load (i32.add (local.get $scratch) (i32.shl (local.get $f) (i32.const 3)))))))
        (local.set $f (i32.add (local.get $f) (i32.const 1)))
        (f64.store (i32.add (local.get $qs) (i32.shl (local.get $f) (i32.const 3))) (local.get $q))
        (br $box)))
    (local.set $r (f64.convert_i32_s (local.get $ramp)))
    (local.set $f (i32.const 0))
    (block $sumDone
      (loop $sum
        (br_if $sumDone (i32.ge_s (local.get $f) (local.get $starts)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $f) (i32.const 3)))
          (f64.max (f64.const 0)
            (f64.div
              (f64.sub
                (f64.load (i32.add (local.get $qs) (i32.shl (i32.add (local.get $f) (local.get $n)) (i32.const 3))))
                (f64.load (i32.add (local.get $qs) (i32.shl (local.get $f) (i32.const 3)))))
              (local.get $r))))
        (local.set $f (i32.add (local.get $f) (i32.const 1)))
        (br $sum)))))
