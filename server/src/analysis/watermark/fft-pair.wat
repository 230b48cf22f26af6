(module
  (memory (export "memory") 1)
  ;; Two complex FFTs of one power-of-two size at once, one per f64x2 lane, for the audio
  ;; watermark (audio-watermark.ts): its 512-point transforms were the largest single cost of
  ;; detecting a mark in a 3 s clip in a CPU profile. Compiled by scripts/build-wasm.mjs into
  ;; fft-pair-wasm.ts; a test checks that the committed bytes are this file's, and another that the
  ;; output equals dsp.ts's Fft bit for bit: every butterfly below is the same sequence of IEEE
  ;; double operations as Fft.transform's (no fused multiply-add exists in WebAssembly SIMD, so
  ;; the rounding is the same), so switching between the two changes no watermark decision.
  ;;
  ;; framePowers (at the end) wraps the transform for the audio mark's analysis frames: it windows
  ;; four frames into the lanes, transforms and squares, so no JavaScript loop touches a sample.
  ;;
  ;; Memory layout (byte offsets into the exported memory):
  ;;   data: n elements of 32 bytes: [Re lane 0, Re lane 1, Im lane 0, Im lane 1] as f64
  ;;   tw:   n/2 twiddles of 32 bytes: [cos, cos, s, s] for W^k = exp(∓2πik/n), where s is
  ;;         −sin(2πk/n) for the forward table and +sin for the inverse one (the caller picks)
  ;;   rev:  n u32 bit-reversed indices
  ;; inverse selects the ±i of the four-point stage and of the second half of each radix-2²
  ;; step; odd = 1 when log2(n) − 2 is odd (one plain radix-2 stage of length 8 runs first).
  (func $fft (export "fft")
    (param $data i32) (param $tw i32) (param $rev i32) (param $n i32) (param $inverse i32) (param $odd i32)
    (local $i i32) (local $j i32) (local $k i32) (local $end i32)
    (local $len i32) (local $half i32) (local $step1 i32) (local $step2 i32) (local $blockBytes i32)
    (local $halfBytes i32) (local $lenBytes i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $w1 i32) (local $w2 i32)
    (local $t v128) (local $ar v128) (local $ai v128) (local $br v128) (local $bi v128)
    (local $xr v128) (local $xi v128) (local $w1r v128) (local $w1i v128) (local $w2r v128) (local $w2i v128)
    (local $a0r v128) (local $a0i v128) (local $a1r v128) (local $a1i v128)
    (local $a2r v128) (local $a2i v128) (local $a3r v128) (local $a3i v128)
    (local $t2r v128) (local $t2i v128) (local $ur v128) (local $ui v128) (local $t3r v128) (local $t3i v128)
    (local.set $end (i32.add (local.get $data) (i32.shl (local.get $n) (i32.const 5))))

    ;; Bit-reversal permutation (swaps both lanes and both parts of an element together).
    (local.set $i (i32.const 0))
    (loop $permute
      (local.set $j (i32.load (i32.add (local.get $rev) (i32.shl (local.get $i) (i32.const 2)))))
      (if (i32.gt_u (local.get $j) (local.get $i))
        (then
          (local.set $p0 (i32.add (local.get $data) (i32.shl (local.get $i) (i32.const 5))))
          (local.set $p1 (i32.add (local.get $data) (i32.shl (local.get $j) (i32.const 5))))
          (local.set $t (v128.load (local.get $p0)))
          (v128.store (local.get $p0) (v128.load (local.get $p1)))
          (v128.store (local.get $p1) (local.get $t))
          (local.set $t (v128.load offset=16 (local.get $p0)))
          (v128.store offset=16 (local.get $p0) (v128.load offset=16 (local.get $p1)))
          (v128.store offset=16 (local.get $p1) (local.get $t))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $permute (i32.lt_u (local.get $i) (local.get $n))))

    ;; Length-2 stage: twiddle 1.
    (local.set $p0 (local.get $data))
    (loop $stage2
      (local.set $ar (v128.load (local.get $p0)))
      (local.set $ai (v128.load offset=16 (local.get $p0)))
      (local.set $br (v128.load offset=32 (local.get $p0)))
      (local.set $bi (v128.load offset=48 (local.get $p0)))
      (v128.store (local.get $p0) (f64x2.add (local.get $ar) (local.get $br)))
      (v128.store offset=16 (local.get $p0) (f64x2.add (local.get $ai) (local.get $bi)))
      (v128.store offset=32 (local.get $p0) (f64x2.sub (local.get $ar) (local.get $br)))
      (v128.store offset=48 (local.get $p0) (f64x2.sub (local.get $ai) (local.get $bi)))
      (local.set $p0 (i32.add (local.get $p0) (i32.const 64)))
      (br_if $stage2 (i32.lt_u (local.get $p0) (local.get $end))))

    ;; Length-4 stage: twiddles 1 and ∓i, without multiplications.
    (local.set $p0 (local.get $data))
    (loop $stage4
      (local.set $ar (v128.load (local.get $p0)))
      (local.set $ai (v128.load offset=16 (local.get $p0)))
      (local.set $br (v128.load offset=64 (local.get $p0)))
      (local.set $bi (v128.load offset=80 (local.get $p0)))
      (v128.store (local.get $p0) (f64x2.add (local.get $ar) (local.get $br)))
      (v128.store offset=16 (local.get $p0) (f64x2.add (local.get $ai) (local.get $bi)))
      (v128.store offset=64 (local.get $p0) (f64x2.sub (local.get $ar) (local.get $br)))
      (v128.store offset=80 (local.get $p0) (f64x2.sub (local.get $ai) (local.get $bi)))
      (local.set $ar (v128.load offset=32 (local.get $p0)))
      (local.set $ai (v128.load offset=48 (local.get $p0)))
      (local.set $br (v128.load offset=96 (local.get $p0)))
      (local.set $bi (v128.load offset=112 (local.get $p0)))
      ;; b·w with w = −i (forward: xr = bi, xi = −br) or +i (inverse: xr = −bi, xi = br).
      (local.set $xr (select (result v128) (f64x2.neg (local.get $bi)) (local.get $bi) (local.get $inverse)))
      (local.set $xi (select (result v128) (local.get $br) (f64x2.neg (local.get $br)) (local.get $inverse)))
      (v128.store offset=32 (local.get $p0) (f64x2.add (local.get $ar) (local.get $xr)))
      (v128.store offset=48 (local.get $p0) (f64x2.add (local.get $ai) (local.get $xi)))
      (v128.store offset=96 (local.get $p0) (f64x2.sub (local.get $ar) (local.get $xr)))
      (v128.store offset=112 (local.get $p0) (f64x2.sub (local.get $ai) (local.get $xi)))
      (local.set $p0 (i32.add (local.get $p0) (i32.const 128)))
      (br_if $stage4 (i32.lt_u (local.get $p0) (local.get $end))))

    (local.set $len (i32.const 8))
    ;; An odd number of remaining stages: one plain radix-2 stage of length 8 first.
    (if (local.get $odd)
      (then
        (local.set $half (i32.const 4))
        (local.set $halfBytes (i32.const 128))
        (local.set $step1 (i32.shr_u (local.get $n) (i32.const 3)))
        (local.set $k (i32.const 0))
        (loop $radix2k
          (local.set $w1 (i32.add (local.get $tw) (i32.shl (i32.mul (local.get $k) (local.get $step1)) (i32.const 5))))
          (local.set $w1r (v128.load (local.get $w1)))
          (local.set $w1i (v128.load offset=16 (local.get $w1)))
          (local.set $p0 (i32.add (local.get $data) (i32.shl (local.get $k) (i32.const 5))))
          (loop $radix2j
            (local.set $p1 (i32.add (local.get $p0) (local.get $halfBytes)))
            (local.set $br (v128.load (local.get $p1)))
            (local.set $bi (v128.load offset=16 (local.get $p1)))
            (local.set $xr (f64x2.sub (f64x2.mul (local.get $br) (local.get $w1r)) (f64x2.mul (local.get $bi) (local.get $w1i))))
            (local.set $xi (f64x2.add (f64x2.mul (local.get $br) (local.get $w1i)) (f64x2.mul (local.get $bi) (local.get $w1r))))
            (local.set $ar (v128.load (local.get $p0)))
            (local.set $ai (v128.load offset=16 (local.get $p0)))
            (v128.store (local.get $p1) (f64x2.sub (local.get $ar) (local.get $xr)))
            (v128.store offset=16 (local.get $p1) (f64x2.sub (local.get $ai) (local.get $xi)))
            (v128.store (local.get $p0) (f64x2.add (local.get $ar) (local.get $xr)))
            (v128.store offset=16 (local.get $p0) (f64x2.add (local.get $ai) (local.get $xi)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 256)))
            (br_if $radix2j (i32.lt_u (local.get $p0) (local.get $end))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $radix2k (i32.lt_u (local.get $k) (local.get $half))))
        (local.set $len (i32.const 16))))

    ;; Then stages L and 2L merged (radix-2²), as in Fft.transform.
    (block $stagesDone
      (loop $stages
        (br_if $stagesDone (i32.gt_u (i32.shl (local.get $len) (i32.const 1)) (local.get $n)))
        (local.set $half (i32.shr_u (local.get $len) (i32.const 1)))
        (local.set $halfBytes (i32.shl (local.get $half) (i32.const 5)))
        (local.set $lenBytes (i32.shl (local.get $len) (i32.const 5)))
        (local.set $blockBytes (i32.shl (local.get $len) (i32.const 6)))
        (local.set $step1 (i32.div_u (local.get $n) (local.get $len)))
        (local.set $step2 (i32.shr_u (local.get $step1) (i32.const 1)))
        (local.set $k (i32.const 0))
        (loop $quadk
          (local.set $w1 (i32.add (local.get $tw) (i32.shl (i32.mul (local.get $k) (local.get $step1)) (i32.const 5))))
          (local.set $w2 (i32.add (local.get $tw) (i32.shl (i32.mul (local.get $k) (local.get $step2)) (i32.const 5))))
          (local.set $w1r (v128.load (local.get $w1)))
          (local.set $w1i (v128.load offset=16 (local.get $w1)))
          (local.set $w2r (v128.load (local.get $w2)))
          (local.set $w2i (v128.load offset=16 (local.get $w2)))
          (local.set $p0 (i32.add (local.get $data) (i32.shl (local.get $k) (i32.const 5))))
          (loop $quadj
            (local.set $p1 (i32.add (local.get $p0) (local.get $halfBytes)))
            (local.set $p2 (i32.add (local.get $p0) (local.get $lenBytes)))
            (local.set $p3 (i32.add (local.get $p2) (local.get $halfBytes)))
            ;; stage L: (j, i1) and (i2, i3) with W_L^k
            (local.set $br (v128.load (local.get $p1)))
            (local.set $bi (v128.load offset=16 (local.get $p1)))
            (local.set $xr (f64x2.sub (f64x2.mul (local.get $br) (local.get $w1r)) (f64x2.mul (local.get $bi) (local.get $w1i))))
            (local.set $xi (f64x2.add (f64x2.mul (local.get $br) (local.get $w1i)) (f64x2.mul (local.get $bi) (local.get $w1r))))
            (local.set $ar (v128.load (local.get $p0)))
            (local.set $ai (v128.load offset=16 (local.get $p0)))
            (local.set $a0r (f64x2.add (local.get $ar) (local.get $xr)))
            (local.set $a0i (f64x2.add (local.get $ai) (local.get $xi)))
            (local.set $a1r (f64x2.sub (local.get $ar) (local.get $xr)))
            (local.set $a1i (f64x2.sub (local.get $ai) (local.get $xi)))
            (local.set $br (v128.load (local.get $p3)))
            (local.set $bi (v128.load offset=16 (local.get $p3)))
            (local.set $xr (f64x2.sub (f64x2.mul (local.get $br) (local.get $w1r)) (f64x2.mul (local.get $bi) (local.get $w1i))))
            (local.set $xi (f64x2.add (f64x2.mul (local.get $br) (local.get $w1i)) (f64x2.mul (local.get $bi) (local.get $w1r))))
            (local.set $ar (v128.load (local.get $p2)))
            (local.set $ai (v128.load offset=16 (local.get $p2)))
            (local.set $a2r (f64x2.add (local.get $ar) (local.get $xr)))
            (local.set $a2i (f64x2.add (local.get $ai) (local.get $xi)))
            (local.set $a3r (f64x2.sub (local.get $ar) (local.get $xr)))
            (local.set $a3i (f64x2.sub (local.get $ai) (local.get $xi)))
            ;; stage 2L: (j, i2) with W_2L^k, (i1, i3) with W_2L^k · (∓i)
            (local.set $t2r (f64x2.sub (f64x2.mul (local.get $a2r) (local.get $w2r)) (f64x2.mul (local.get $a2i) (local.get $w2i))))
            (local.set $t2i (f64x2.add (f64x2.mul (local.get $a2r) (local.get $w2i)) (f64x2.mul (local.get $a2i) (local.get $w2r))))
            (local.set $ur (f64x2.sub (f64x2.mul (local.get $a3r) (local.get $w2r)) (f64x2.mul (local.get $a3i) (local.get $w2i))))
            (local.set $ui (f64x2.add (f64x2.mul (local.get $a3r) (local.get $w2i)) (f64x2.mul (local.get $a3i) (local.get $w2r))))
            ;; forward: t3 = (ui, −ur); inverse: t3 = (−ui, ur)
            (local.set $t3r (select (result v128) (f64x2.neg (local.get $ui)) (local.get $ui) (local.get $inverse)))
            (local.set $t3i (select (result v128) (local.get $ur) (f64x2.neg (local.get $ur)) (local.get $inverse)))
            (v128.store (local.get $p0) (f64x2.add (local.get $a0r) (local.get $t2r)))
            (v128.store offset=16 (local.get $p0) (f64x2.add (local.get $a0i) (local.get $t2i)))
            (v128.store (local.get $p2) (f64x2.sub (local.get $a0r) (local.get $t2r)))
            (v128.store offset=16 (local.get $p2) (f64x2.sub (local.get $a0i) (local.get $t2i)))
            (v128.store (local.get $p1) (f64x2.add (local.get $a1r) (local.get $t3r)))
            (v128.store offset=16 (local.get $p1) (f64x2.add (local.get $a1i) (local.get $t3i)))
            (v128.store (local.get $p3) (f64x2.sub (local.get $a1r) (local.get $t3r)))
            (v128.store offset=16 (local.get $p3) (f64x2.sub (local.get $a1i) (local.get $t3i)))
            (local.set $p0 (i32.add (local.get $p0) (local.get $blockBytes)))
            (br_if $quadj (i32.lt_u (local.get $p0) (local.get $end))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $quadk (i32.lt_u (local.get $k) (local.get $half))))
        (local.set $len (i32.shl (local.get $len) (i32.const 2)))
        (br $stages))))

  ;; Power spectra of real frames (analysisPowers in audio-watermark.ts), four frames per
  ;; transform as that function packs them: frames f, f+1 are lane 0's real and imaginary parts,
  ;; f+2, f+3 lane 1's. Frame f (0 <= f < $count) is the $n samples from $buf + 4 f $hop (f32;
  ;; the caller zero-pads past the signal's ends) times the window at $win (f64); frames past
  ;; $count in the last group are zero, as in the JavaScript. Writes 0.25 (a^2 + b^2) of bins
  ;; $lo .. $hi - 1 of each frame to $out (f64, ($hi - $lo) per frame): the same double
  ;; operations as the JavaScript's, so the powers are the same bit for bit.
  (func (export "framePowers")
    (param $data i32) (param $tw i32) (param $rev i32) (param $n i32) (param $odd i32)
    (param $buf i32) (param $win i32) (param $hop i32) (param $count i32) (param $out i32) (param $lo i32) (param $hi i32)
    (local $f i32) (local $i i32) (local $k i32) (local $lane i32) (local $bins i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32) (local $hopBytes i32)
    (local $d i32) (local $pk i32) (local $pn i32) (local $row i32) (local $fa i32)
    (local $w v128) (local $keep02 v128) (local $keep13 v128) (local $v v128)
    (local $rk v128) (local $rn v128) (local $ik v128) (local $in v128)
    (local $ar v128) (local $ai v128) (local $br v128) (local $bi v128) (local $p0 v128) (local $p1 v128)
    (local.set $bins (i32.sub (local.get $hi) (local.get $lo)))
    (local.set $hopBytes (i32.shl (local.get $hop) (i32.const 2)))
    (block $done
      (loop $groups
        (br_if $done (i32.ge_s (local.get $f) (local.get $count)))
        ;; lanes (frame f, frame f+2) and (frame f+1, frame f+3): all ones where the frame is live
        (local.set $keep02
          (i64x2.replace_lane 1
            (i64x2.splat (i64.const -1))
            (select (i64.const -1) (i64.const 0) (i32.lt_s (i32.add (local.get $f) (i32.const 2)) (local.get $count)))))
        (local.set $keep13
          (i64x2.replace_lane 1
            (i64x2.splat (select (i64.const -1) (i64.const 0) (i32.lt_s (i32.add (local.get $f) (i32.const 1)) (local.get $count))))
            (select (i64.const -1) (i64.const 0) (i32.lt_s (i32.add (local.get $f) (i32.const 3)) (local.get $count)))))
        (local.set $s0 (i32.add (local.get $buf) (i32.mul (local.get $f) (local.get $hopBytes))))
        (local.set $s1 (i32.add (local.get $s0) (local.get $hopBytes)))
        (local.set $s2 (i32.add (local.get $s1) (local.get $hopBytes)))
        (local.set $s3 (i32.add (local.get $s2) (local.get $hopBytes)))
        (local.set $d (local.get $data))
        (local.set $i (i32.const 0))
        (loop $window
          (local.set $w (f64x2.splat (f64.load (i32.add (local.get $win) (i32.shl (local.get $i) (i32.const 3))))))
          ;; real parts: frames f (lane 0) and f+2 (lane 1)
          (local.set $v
            (f64x2.promote_low_f32x4
              (f32x4.replace_lane 1 (f32x4.splat (f32.load (local.get $s0))) (f32.load (local.get $s2)))))
          (v128.store (local.get $d) (v128.and (f64x2.mul (local.get $v) (local.get $w)) (local.get $keep02)))
          ;; imaginary parts: frames f+1 (lane 0) and f+3 (lane 1)
          (local.set $v
            (f64x2.promote_low_f32x4
              (f32x4.replace_lane 1 (f32x4.splat (f32.load (local.get $s1))) (f32.load (local.get $s3)))))
          (v128.store offset=16 (local.get $d) (v128.and (f64x2.mul (local.get $v) (local.get $w)) (local.get $keep13)))
          (local.set $s0 (i32.add (local.get $s0) (i32.const 4)))
          (local.set $s1 (i32.add (local.get $s1) (i32.const 4)))
          (local.set $s2 (i32.add (local.get $s2) (i32.const 4)))
          (local.set $s3 (i32.add (local.get $s3) (i32.const 4)))
          (local.set $d (i32.add (local.get $d) (i32.const 32)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $window (i32.lt_s (local.get $i) (local.get $n))))
        (call $fft (local.get $data) (local.get $tw) (local.get $rev) (local.get $n) (i32.const 0) (local.get $odd))
        ;; separate each lane's two real frames and square: both lanes at once
        (local.set $k (local.get $lo))
        (loop $bin
          (local.set $pk (i32.add (local.get $data) (i32.shl (local.get $k) (i32.const 5))))
          (local.set $pn (i32.add (local.get $data) (i32.shl (i32.sub (local.get $n) (local.get $k)) (i32.const 5))))
          (local.set $rk (v128.load (local.get $pk)))
          (local.set $ik (v128.load offset=16 (local.get $pk)))
          (local.set $rn (v128.load (local.get $pn)))
          (local.set $in (v128.load offset=16 (local.get $pn)))
          (local.set $ar (f64x2.add (local.get $rk) (local.get $rn)))
          (local.set $ai (f64x2.sub (local.get $ik) (local.get $in)))
          (local.set $br (f64x2.add (local.get $ik) (local.get $in)))
          (local.set $bi (f64x2.sub (local.get $rn) (local.get $rk)))
          (local.set $p0 (f64x2.mul (f64x2.splat (f64.const 0.25))
            (f64x2.add (f64x2.mul (local.get $ar) (local.get $ar)) (f64x2.mul (local.get $ai) (local.get $ai)))))
          (local.set $p1 (f64x2.mul (f64x2.splat (f64.const 0.25))
            (f64x2.add (f64x2.mul (local.get $br) (local.get $br)) (f64x2.mul (local.get $bi) (local.get $bi)))))
          ;; frame f + q's row starts at $out + 8 (f + q) bins; column k - lo
          (local.set $row (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $f) (local.get $bins)) (i32.sub (local.get $k) (local.get $lo))) (i32.const 3))))
          (f64.store (local.get $row) (f64x2.extract_lane 0 (local.get $p0)))
          (if (i32.lt_s (i32.add (local.get $f) (i32.const 1)) (local.get $count))
            (then (f64.store (i32.add (local.get $row) (i32.shl (local.get $bins) (i32.const 3))) (f64x2.extract_lane 0 (local.get $p1)))))
          (if (i32.lt_s (i32.add (local.get $f) (i32.const 2)) (local.get $count))
            (then (f64.store (i32.add (local.get $row) (i32.shl (local.get $bins) (i32.const 4))) (f64x2.extract_lane 1 (local.get $p0)))))
          (if (i32.lt_s (i32.add (local.get $f) (i32.const 3)) (local.get $count))
            (then (f64.store (i32.add (local.get $row) (i32.mul (local.get $bins) (i32.const 24))) (f64x2.extract_lane 1 (local.get $p1)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $bin (i32.lt_s (local.get $k) (local.get $hi))))
        (local.set $f (i32.add (local.get $f) (i32.const 4)))
        (br $groups)))))
