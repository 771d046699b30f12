// The alarm tone of this screen, its audio pause, the "sound off" control and the connection
// watchdog. Streamlit mounts this component in the alarm bar and calls it again with new data
// at every refresh (every second) and on every page change; the state machine therefore lives
// once per browser window, in window.itbmonAlarmAudio, and is never reset or doubled by a
// rerun. Its public fields (sounding, level, paused_until, bursts_started, reminders_played,
// audio_state, connection_lost) are what the browser tests read.
//
// Sound: IEC 60601-1-8 alarm signals made with Web Audio (no media player to pause or lose).
// High priority: a burst of 10 pulses, 3 + 2, 3 + 2; medium: 3 pulses; low: not sounded.
// Pulse timing after the standard's table of pulse characteristics: high pulses 150 ms long,
// 100 ms apart inside a group, the 3rd to 4th gap 2x + td (350 ms), 0.7 s between the halves;
// medium pulses 200 ms long, 200 ms apart. Each pulse is a fundamental (display.yaml,
// 150-1000 Hz) with four harmonics, with 20 ms rise and fall.

const HIGH = [0, 250, 500, 1000, 1250, 2100, 2350, 2600, 3100, 3350].map((t) => [t, 150]);
const MEDIUM = [0, 400, 800].map((t) => [t, 200]);
const REMINDER = [0, 500].map((t) => [t, 200]);
const LOUDNESS = { high: 0.5, medium: 0.4, reminder: 0.12 };

function createMachine() {
  const m = {
    sounding: false,
    level: null,
    paused_until: 0,
    bursts_started: 0,
    reminders_played: 0,
    audio_state: "none",
    connection_lost: false,
    last_beat: 0,
    alarm_ids: [],
    _alarms: new Map(),
    _pausedWith: null,
    _nextBurst: 0,
    _views: new Set(),
    _settings: null,
    _ctx: null,
    _wave: null,
    _reminder: null,
  };

  m.context = function () {
    if (m._ctx === null) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      m._ctx = new Context();
      m._ctx.onstatechange = () => m.render();
      // Fundamental and four harmonics (IEC 60601-1-8: at least four harmonic components).
      const real = new Float32Array([0, 1, 0.6, 0.45, 0.3, 0.2]);
      m._wave = m._ctx.createPeriodicWave(real, new Float32Array(real.length));
    }
    m.audio_state = m._ctx.state;
    return m._ctx;
  };

  m.enable = function () {
    const ctx = m.context();
    if (ctx && ctx.state !== "running") {
      ctx.resume().then(() => m.render(), () => m.render());
    }
  };

  m.play = function (pulses, hertz, loudness) {
    const ctx = m.context();
    if (!ctx || ctx.state !== "running") return false;
    const start = ctx.currentTime + 0.05;
    for (const [offset, length] of pulses) {
      const at = start + offset / 1000;
      const end = at + length / 1000;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.setPeriodicWave(m._wave);
      osc.frequency.value = hertz;
      gain.gain.setValueAtTime(0, at);
      gain.gain.linearRampToValueAtTime(loudness, at + 0.02);
      gain.gain.setValueAtTime(loudness, end - 0.02);
      gain.gain.linearRampToValueAtTime(0, end);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(end + 0.01);
    }
    return true;
  };

  m.paused = function (now) {
    return m.paused_until > now;
  };

  m.update = function (data) {
    const now = Date.now();
    m._settings = data.settings;
    m.last_beat = now;
    const before = m.level;
    const alarms = new Map(data.alarms.map((a) => [String(a.id), a.priority]));
    if (m.paused(now)) {
      // A new alarm, or one risen to high, ends the pause at once.
      for (const [id, priority] of alarms) {
        const then = m._pausedWith.get(id);
        if (then === undefined || (priority === "high" && then !== "high")) {
          m.paused_until = 0;
          m._nextBurst = 0;
          break;
        }
      }
    }
    m._alarms = alarms;
    m.alarm_ids = [...alarms.keys()];
    const priorities = [...alarms.values()];
    m.level = priorities.includes("high") ? "high" : priorities.includes("medium") ? "medium" : null;
    if (m.level === "high" && before !== "high") m._nextBurst = 0; // worse: at once
    if (m.level === "medium" && before === null) m._nextBurst = 0;
    if (data.reminder && data.reminder !== m._reminder) {
      m._reminder = data.reminder;
      // The soft reminder is never played over (or during a pause of) the alarm tone.
      if (m.level === null && !m.paused(now)) {
        if (m.play(REMINDER, m._settings.reminder_hz, LOUDNESS.reminder)) m.reminders_played += 1;
      }
    }
    m.context();
    m.tick();
  };

  m.pause = function () {
    if (!m._settings) return;
    m.paused_until = Date.now() + m._settings.pause_s * 1000;
    m._pausedWith = new Map(m._alarms);
    m.render();
  };

  m.resume = function () {
    m.paused_until = 0;
    m._nextBurst = 0;
    m.tick();
  };

  m.tick = function () {
    const now = Date.now();
    if (m.paused_until && !m.paused(now)) {
      m.paused_until = 0; // the pause ends by itself
      m._nextBurst = 0;
    }
    const active = m._views.size > 0;
    m.sounding = active && m.level !== null && !m.paused(now);
    if (m.sounding && now >= m._nextBurst && m._settings) {
      const high = m.level === "high";
      if (m.play(high ? HIGH : MEDIUM, m._settings.fundamental_hz,
                 high ? LOUDNESS.high : LOUDNESS.medium)) {
        m.bursts_started += 1;
        m._nextBurst = now + 1000 * (high ? m._settings.high_every_s : m._settings.medium_every_s);
      }
    }
    m.watch(now, active);
    m.render();
  };

  // Connection watchdog: no refresh from the server for watchdog_s while the bar is on
  // screen means what the screen shows is old and alarms cannot reach it.
  m.watch = function (now, active) {
    const limit = m._settings ? m._settings.watchdog_s * 1000 : Infinity;
    m.connection_lost = active && m.last_beat > 0 && now - m.last_beat > limit;
    let banner = document.getElementById("itbmon-connection-lost");
    if (m.connection_lost && !banner) {
      banner = document.createElement("div");
      banner.id = "itbmon-connection-lost";
      banner.setAttribute("role", "alert");
      banner.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:999999;" +
        "background:#b00020;color:#fff;font:bold 28px sans-serif;padding:24px;text-align:center;";
      banner.textContent = "CONNECTION TO THE SERVER LOST: the values on this screen are OLD " +
        "and alarms cannot reach you. Watch the patient and the bedside monitor.";
      document.body.appendChild(banner);
    } else if (!m.connection_lost && banner) {
      banner.remove();
    }
  };

  m.render = function () {
    const now = Date.now();
    const ctx = m._ctx;
    m.audio_state = ctx ? ctx.state : "none";
    const blocked = ctx !== null && ctx.state !== "running";
    const paused = m.paused(now);
    const left = Math.max(0, Math.ceil((m.paused_until - now) / 1000));
    const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    const minutes = m._settings ? m._settings.pause_s / 60 : 2;
    for (const view of m._views) {
      view.enable.hidden = !blocked;
      view.pause.hidden = paused || m.level === null;
      view.pause.textContent = `Pause audio ${minutes} min`;
      view.paused.hidden = !paused;
      view.countdown.textContent = `Audio paused: sounds again in ${clock}`;
      view.status.hidden = !(m.sounding && !blocked);
      view.status.textContent = m.level === "high" ? "HIGH alarm tone" : "MEDIUM alarm tone";
      view.root.dataset.state = paused ? "paused" : m.sounding ? m.level : "quiet";
    }
  };

  document.addEventListener("pointerdown", () => m.enable(), true);
  document.addEventListener("keydown", () => m.enable(), true);
  setInterval(() => m.tick(), 200);
  return m;
}

function view(parent, machine) {
  let root = parent.querySelector(".itbmon-tone");
  if (root === null) {
    root = document.createElement("div");
    root.className = "itbmon-tone";
    root.innerHTML =
      '<button type="button" class="enable">Sound off \u2014 click to enable</button>' +
      '<button type="button" class="pause"></button>' +
      '<span class="paused" role="status"><span class="countdown"></span>' +
      '<button type="button" class="resume">Sound now</button></span>' +
      '<span class="status" role="status"></span>';
    parent.appendChild(root);
    root.querySelector(".enable").addEventListener("click", () => machine.enable());
    root.querySelector(".pause").addEventListener("click", () => machine.pause());
    root.querySelector(".resume").addEventListener("click", () => machine.resume());
  }
  return {
    root,
    enable: root.querySelector(".enable"),
    pause: root.querySelector(".pause"),
    paused: root.querySelector(".paused"),
    countdown: root.querySelector(".countdown"),
    status: root.querySelector(".status"),
  };
}

export default function (component) {
  const { data, parentElement } = component;
  if (!window.itbmonAlarmAudio) window.itbmonAlarmAudio = createMachine();
  const machine = window.itbmonAlarmAudio;
  const mine = view(parentElement, machine);
  for (const other of machine._views) {
    if (other.root === mine.root) machine._views.delete(other);
  }
  machine._views.add(mine);
  machine.update(data || { alarms: [], settings: null });
  return () => {
    machine._views.delete(mine);
    machine.tick();
  };
}
