(module
  (memory (export "memory") 1)
  ;; The inner loop of the streaming resampler (resample.ts), in WebAssembly SIMD because a plain
  ;; JavaScript dot product of 90 taps per output sample (44.1 -> 16 kHz) was the largest cost of
  ;; the in-process MP3 path after onnxruntime in a CPU profile. Compiled by scripts/build-wasm.mjs into
  ;; polyphase-wasm.ts; a test checks that the committed bytes are this file's.
  ;;
  ;; For i in [0, count): out[i] = sum over k < stride of x[base + k] * taps[phase * stride + k],
  ;; then phase += step, base += phase / phases, phase %= phases. All addresses are byte offsets
  ;; into the exported memory; stride is a multiple of 4 (the taps are zero-padded to it).
  (func (export "polyphase")
    (param $x i32) (param $taps i32) (param $stride i32) (param $out i32) (param $count i32)
    (param $base i32) (param $phase i32) (param $step i32) (param $phases i32)
    (local $i i32) (local $k i32) (local $xp i32) (local $hp i32) (local $acc v128)
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $xp (i32.add (local.get $x) (i32.shl (local.get $base) (i32.const 2))))
        (local.set $hp (i32.add (local.get $taps)
          (i32.shl (i32.mul (local.get $phase) (local.get $stride)) (i32.const 2))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $inner
          (local.set $acc (f32x4.add (local.get $acc)
            (f32x4.mul (v128.load align=4 (local.get $xp)) (v128.load align=4 (local.get $hp)))))
          (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
          (local.set $hp (i32.add (local.get $hp) (i32.const 16)))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br_if $inner (i32.lt_u (local.get $k) (local.get $stride))))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
            (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
        (local.set $phase (i32.add (local.get $phase) (local.get $step)))
        (local.set $base (i32.add (local.get $base) (i32.div_u (local.get $phase) (local.get $phases))))
        (local.set $phase (i32.rem_u (local.get $phase) (local.get $phases)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))))
