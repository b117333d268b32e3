// The alarm's sound: a square-wave beep, repeated until the alarm is cleared. Browsers only let a
// page make sound after a click or key press, so the page calls unlock() on any press.

export class AlarmSound {
  constructor(everyMs) {
    this.everyMs = everyMs;
    this.audio = null;
    this.timer = null;
  }

  unlock() {
    try {
      this.audio ??= new AudioContext();
      if (this.audio.state === "suspended") this.audio.resume();
    } catch { /* no sound on this machine: the screen still flashes */ }
  }

  start() {
    if (this.timer) return;
    this.beep();
    this.timer = setInterval(() => this.beep(), this.everyMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  beep() {
    const audio = this.audio;
    if (!audio || audio.state !== "running") return;
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    tone.type = "square";
    tone.frequency.value = 880;
    volume.gain.value = 0.25;
    tone.connect(volume).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  }
}
