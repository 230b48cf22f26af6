/** Summary of what ffprobe (and byte sniffing) found in a media file. */
export interface MediaProbe {
  /** Container/format as sniffed from the bytes, e.g. "wav", "mp3", "mp4", "png", "jpeg". */
  format: string;
  /** Real media type decided from the bytes, never from the file name. */
  mediaType: 'audio' | 'image' | 'video';
  /** Seconds; null for still images. */
  duration: number | null;
  audio: { codec: string; sampleRate: number; channels: number } | null;
  video: { codec: string; width: number; height: number; fps: number | null; frames: number | null } | null;
  sizeBytes: number;
}
