// The camera on a page: open it, wait for its first frames, grab one as JPEG, stop it.

/** True when this browser (and this origin: https or localhost) may use a camera. */
export function cameraAvailable(mediaDevices) {
  return Boolean(mediaDevices?.getUserMedia);
}

/** The camera's stream. 640x480 is plenty for a face and light on a small PC. */
export function openCamera(mediaDevices) {
  return mediaDevices.getUserMedia(
    { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
}

/** Stop every track of `stream` (null is fine). */
export function stopCamera(stream) {
  stream?.getTracks().forEach((track) => track.stop());
}

/** Wait up to `ms` for `video` to show frames; true once it does. */
export async function videoReady(video, ms) {
  const deadline = performance.now() + ms;
  while (!video.videoWidth && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return Boolean(video.videoWidth);
}

/** The video's current frame as a JPEG blob drawn through `canvas`, or null without a frame. */
export function videoFrame(video, canvas) {
  if (!video.videoWidth) return Promise.resolve(null);
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
}
