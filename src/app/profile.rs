//! Where a UI pass spends its time, section by section: cheap enough to run every frame
//! (one clock read a section), read by the frame benchmark to explain a slow frame.

use std::time::{Duration, Instant};

/// The sections of the last UI pass in order, each with the time since the previous mark.
#[derive(Debug, Default, Clone)]
pub struct PassProfile {
    started: Option<Instant>,
    last: Option<Instant>,
    pub sections: Vec<(&'static str, Duration)>,
}

impl PassProfile {
    /// Starts a new pass: forgets the last one's sections.
    pub fn start(&mut self) {
        self.sections.clear();
        self.started = Some(Instant::now());
        self.last = self.started;
    }

    /// From the start to the last mark.
    pub fn total(&self) -> Duration {
        match (self.started, self.last) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        }
    }

    /// Ends the section `name` now.
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.sections.push((name, now - last));
        }
        self.last = Some(now);
    }

    /// The sections that took at least `at_least`, as "name 12.3 ms, …".
    pub fn describe(&self, at_least: Duration) -> String {
        let parts: Vec<String> = self
            .sections
            .iter()
            .filter(|(_, d)| *d >= at_least)
            .map(|(n, d)| format!("{n} {:.1} ms", d.as_secs_f64() * 1000.0))
            .collect();
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_the_times_between_marks() {
        let mut p = PassProfile::default();
        p.mark("before start");
        assert!(p.sections.is_empty(), "a mark before start has nothing to measure from");
        p.start();
        std::thread::sleep(Duration::from_millis(20));
        p.mark("slow");
        p.mark("quick");
        assert_eq!(p.sections.len(), 2);
        assert_eq!(p.total(), p.sections[0].1 + p.sections[1].1);
        assert!(p.sections[0].1 >= Duration::from_millis(20));
        assert!(p.sections[1].1 < Duration::from_millis(20));
        assert_eq!(p.describe(Duration::from_millis(10)).split(", ").count(), 1);
        assert!(p.describe(Duration::from_millis(10)).starts_with("slow "));
        p.start();
        assert!(p.sections.is_empty());
        assert_eq!(p.total(), Duration::ZERO);
    }
}
