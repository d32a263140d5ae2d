//! Audible overdue alerts: a short two-tone chime, played on a thread of its own so the UI never
//! waits for the sound card, at most once every [`MIN_GAP`] however many alerts arrive at once.
//!
//! Sound goes out through ALSA (which PipeWire and PulseAudio also serve through their ALSA
//! plugins). libasound is opened when the first chime rings (libloading), not linked: rodio and
//! cpal would link alsa-sys, and then building the dashboard would need the ALSA development
//! headers that a fresh machine lacks. A machine with no sound library or device still runs the
//! dashboard; the alert stays visible and the reason the chime is silent is shown beside its
//! switch. Only Linux plays sound; elsewhere the switch says so.

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

/// The shortest time between two chimes, seconds.
pub const MIN_GAP: f64 = 5.0;

/// Samples per second of the chime.
pub const RATE: u32 = 22_050;

/// The chime: two notes (a fifth apart, E6 then A5, like a station gong), each with a short
/// attack and an exponential decay, 0.8 s in all, 16-bit mono.
pub fn chime_samples(rate: u32) -> Vec<i16> {
    let note = |freq: f64, start: f64, len: f64, out: &mut Vec<f64>| {
        let (s0, n) = ((start * rate as f64) as usize, (len * rate as f64) as usize);
        for k in 0..n {
            let t = k as f64 / rate as f64;
            let attack = (t / 0.01).min(1.0);
            let envelope = attack * (-t * 6.0).exp() * (1.0 - k as f64 / n as f64).min(1.0);
            // The fundamental with a little of its octave for a bell-like colour.
            let v = (2.0 * std::f64::consts::PI * freq * t).sin() + 0.3 * (4.0 * std::f64::consts::PI * freq * t).sin();
            out[s0 + k] += 0.45 * envelope * v / 1.3;
        }
    };
    let total = (0.8 * rate as f64) as usize;
    let mut mix = vec![0.0; total + 1];
    note(1318.5, 0.0, 0.4, &mut mix);
    note(880.0, 0.32, 0.48, &mut mix);
    mix.truncate(total);
    mix.iter().map(|v| (v.clamp(-1.0, 1.0) * i16::MAX as f64) as i16).collect()
}

/// Why the chime cannot be heard, once a ring has found out.
#[derive(Debug, Clone, Default)]
pub struct ChimeState {
    /// Chimes played to the end.
    pub played: u64,
    /// The last failure (no library, no device, …), cleared by the next success.
    pub problem: Option<String>,
}

/// The app's chime: [`Chime::ring`] asks for one (rate-limited); a player thread plays it.
pub struct Chime {
    player: Option<SyncSender<()>>,
    device: String,
    /// Shared with the player thread.
    pub state: Arc<Mutex<ChimeState>>,
    last: Option<f64>,
    /// Chimes asked for (after the rate limit): what the tests look at.
    pub rung: u64,
}

impl Chime {
    /// A chime that only counts (tests, the frame benchmark).
    pub fn counting() -> Chime {
        Chime { player: None, device: String::new(), state: Arc::default(), last: None, rung: 0 }
    }

    /// A chime played through ALSA's `device` ("default" unless `GRIDCENTRE_ALSA_DEVICE` says
    /// otherwise). The player thread starts with the first ring.
    pub fn alsa() -> Chime {
        let device = std::env::var("GRIDCENTRE_ALSA_DEVICE").unwrap_or_else(|_| "default".into());
        Chime { device, ..Chime::counting() }
    }

    /// Asks for a chime at UI time `now` (seconds); ignored within [`MIN_GAP`] of the last one
    /// and while one is still playing. Never blocks.
    pub fn ring(&mut self, now: f64) {
        if self.last.is_some_and(|t| now - t < MIN_GAP) {
            return;
        }
        self.last = Some(now);
        self.rung += 1;
        if self.device.is_empty() {
            return;
        }
        if self.player.is_none() {
            self.player = self.spawn();
        }
        if let Some(tx) = &self.player
            && let Err(TrySendError::Disconnected(())) = tx.try_send(())
        {
            self.player = None;
        }
    }

    /// Why the chime is silent, if it is.
    pub fn problem(&self) -> Option<String> {
        self.state.lock().ok().and_then(|s| s.problem.clone())
    }

    fn spawn(&self) -> Option<SyncSender<()>> {
        let (tx, rx) = sync_channel::<()>(1);
        let (device, state) = (self.device.clone(), self.state.clone());
        let spawned = std::thread::Builder::new().name("gridcentre-chime".into()).spawn(move || {
            let samples = chime_samples(RATE);
            while rx.recv().is_ok() {
                let result = play(&device, RATE, &samples);
                if let Ok(mut s) = state.lock() {
                    match result {
                        Ok(()) => {
                            s.played += 1;
                            s.problem = None;
                        }
                        Err(e) => {
                            // Said once per new problem, not at every alert.
                            if s.problem.as_ref() != Some(&e) {
                                tracing::warn!("overdue chime not played: {e}");
                            }
                            s.problem = Some(e);
                        }
                    }
                }
            }
        });
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                if let Ok(mut s) = self.state.lock() {
                    s.problem = Some(format!("cannot start the sound thread: {e}"));
                }
                None
            }
        }
    }
}

/// Plays 16-bit mono `samples` at `rate` on ALSA's `device`, blocking until they are played.
#[cfg(target_os = "linux")]
pub fn play(device: &str, rate: u32, samples: &[i16]) -> Result<(), String> {
    use std::ffi::{CStr, CString, c_char, c_int, c_long, c_uint, c_ulong, c_void};
    type Open = unsafe extern "C" fn(*mut *mut c_void, *const c_char, c_int, c_int) -> c_int;
    type SetParams = unsafe extern "C" fn(*mut c_void, c_int, c_int, c_uint, c_uint, c_int, c_uint) -> c_int;
    type Writei = unsafe extern "C" fn(*mut c_void, *const c_void, c_ulong) -> c_long;
    type Recover = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int;
    type Handle = unsafe extern "C" fn(*mut c_void) -> c_int;
    type StrError = unsafe extern "C" fn(c_int) -> *const c_char;
    const STREAM_PLAYBACK: c_int = 0;
    const FORMAT_S16_LE: c_int = 2;
    const ACCESS_RW_INTERLEAVED: c_int = 3;

    // SAFETY: loading libasound runs its initialisers, which have no preconditions.
    let lib =
        unsafe { libloading::Library::new("libasound.so.2") }.map_err(|e| format!("no ALSA library (libasound.so.2): {e}"))?;
    // SAFETY: the signatures are those of alsa-lib's pcm.h (snd_pcm_uframes_t and
    // snd_pcm_sframes_t are unsigned long and long).
    let (open, set_params, writei, recover, drain, close, strerror) = unsafe {
        let sym = |e: libloading::Error| format!("ALSA library without a needed function: {e}");
        (
            *lib.get::<Open>(b"snd_pcm_open\0").map_err(sym)?,
            *lib.get::<SetParams>(b"snd_pcm_set_params\0").map_err(sym)?,
            *lib.get::<Writei>(b"snd_pcm_writei\0").map_err(sym)?,
            *lib.get::<Recover>(b"snd_pcm_recover\0").map_err(sym)?,
            *lib.get::<Handle>(b"snd_pcm_drain\0").map_err(sym)?,
            *lib.get::<Handle>(b"snd_pcm_close\0").map_err(sym)?,
            *lib.get::<StrError>(b"snd_strerror\0").map_err(sym)?,
        )
    };
    let describe = |code: c_int| -> String {
        // SAFETY: snd_strerror returns a static NUL-terminated string for any code.
        let p = unsafe { strerror(code) };
        if p.is_null() { format!("error {code}") } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() }
    };
    let name = CString::new(device).map_err(|_| format!("bad ALSA device name '{device}'"))?;
    let mut pcm: *mut c_void = std::ptr::null_mut();
    // SAFETY: `pcm` receives the handle; `name` outlives the call; blocking mode.
    let rc = unsafe { open(&mut pcm, name.as_ptr(), STREAM_PLAYBACK, 0) };
    if rc < 0 || pcm.is_null() {
        return Err(format!("no sound device '{device}': {}", describe(rc)));
    }
    let result = (|| {
        // SAFETY: `pcm` is an open playback handle; 1 channel, resampling allowed, 200 ms latency.
        let rc = unsafe { set_params(pcm, FORMAT_S16_LE, ACCESS_RW_INTERLEAVED, 1, rate, 1, 200_000) };
        if rc < 0 {
            return Err(format!("sound device '{device}' refuses 16-bit mono {rate} Hz: {}", describe(rc)));
        }
        let mut rest = samples;
        let mut retries = 0;
        while !rest.is_empty() {
            // SAFETY: `rest` holds rest.len() mono frames of i16, valid for the call.
            let n = unsafe { writei(pcm, rest.as_ptr().cast(), rest.len() as c_ulong) };
            if n < 0 {
                // An underrun or a suspend: recover once or twice, then give up.
                retries += 1;
                // SAFETY: as above; `n` is the error code writei returned.
                if retries > 3 || unsafe { recover(pcm, n as c_int, 1) } < 0 {
                    return Err(format!("sound device '{device}': {}", describe(n as c_int)));
                }
                continue;
            }
            rest = &rest[(n as usize).min(rest.len())..];
        }
        // SAFETY: an open handle; waits until the samples are played.
        unsafe { drain(pcm) };
        Ok(())
    })();
    // SAFETY: closes the handle opened above, once.
    unsafe { close(pcm) };
    result
}

/// Plays nothing where there is no ALSA.
#[cfg(not(target_os = "linux"))]
pub fn play(_device: &str, _rate: u32, _samples: &[i16]) -> Result<(), String> {
    Err("sound alerts are played on Linux only".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chime_is_two_audible_notes_that_fade_without_clipping() {
        let s = chime_samples(RATE);
        assert_eq!(s.len(), (0.8 * RATE as f64) as usize);
        let peak = |a: f64, b: f64| {
            s[(a * RATE as f64) as usize..(b * RATE as f64) as usize].iter().map(|v| v.unsigned_abs()).max().unwrap_or(0)
        };
        // Loud at each note's start, quiet at the end, never at full scale.
        assert!(peak(0.0, 0.05) > 8_000, "first note {}", peak(0.0, 0.05));
        assert!(peak(0.32, 0.37) > 8_000, "second note {}", peak(0.32, 0.37));
        assert!(peak(0.78, 0.8) < 1_500, "tail {}", peak(0.78, 0.8));
        assert!(s.iter().all(|v| v.unsigned_abs() < 30_000));
        assert_eq!(s[0], 0, "starts from silence (no click)");
    }

    #[test]
    fn rings_at_most_once_per_gap() {
        let mut c = Chime::counting();
        for t in [0.0, 1.0, 4.9, 5.0, 5.5, 12.0] {
            c.ring(t);
        }
        assert_eq!(c.rung, 3, "at 0, 5 and 12 s");
    }

    /// The whole ALSA path (load, open, parameters, write, drain, close) on ALSA's null device,
    /// which every alsa-lib has; `tools/test` installs libasound2 where it is missing.
    #[test]
    #[cfg(target_os = "linux")]
    fn plays_through_alsa_or_says_why_not() {
        let samples = chime_samples(RATE);
        assert_eq!(play("null", RATE, &samples), Ok(()));
        let err = play("gridcentre-no-such-device", RATE, &samples).unwrap_err();
        assert!(err.contains("no sound device 'gridcentre-no-such-device'"), "{err}");
        let mut c = Chime { device: "null".into(), ..Chime::counting() };
        c.ring(0.0);
        let t0 = std::time::Instant::now();
        while c.state.lock().map(|s| s.played).unwrap_or(0) == 0 && t0.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(c.state.lock().map(|s| (s.played, s.problem.clone())).unwrap_or_default(), (1, None));
    }
}
