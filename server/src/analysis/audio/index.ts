export { createAudioDeepfakeAnalyser, AUDIO_DEEPFAKE_TASK, type AudioDeepfakeDeps } from './analyser.js';
export { decodePcmChunks, SAMPLE_RATE } from './decode.js';
export { SileroVad, sileroModelPath } from './vad.js';
