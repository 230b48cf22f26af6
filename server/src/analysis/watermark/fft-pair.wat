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
  ;; Memory layout (byte offsets into the exported memory):
  ;;   data: n elements of 32 bytes: [Re lane 0, Re lane 1, Im lane 0, Im lane 1] as f64
  ;;   tw:   n/2 twiddles of 32 bytes: [cos, cos, s, s] for W^k = exp(∓2πik/n), where s is
  ;;         −sin(2πk/n) for the forward table and +sin for the inverse one (the caller picks)
  ;;   rev:  n u32 bit-reversed indices
  ;; inverse selects the ±i of the four-point stage and of the second half of each radix-2²
  ;; step; odd = 1 when log2(n) − 2 is odd (one plain radix-2 stage of length 8 runs first).
  (func (export "fft")
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
        (br $stages)))))
