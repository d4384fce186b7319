//! The digit collector of `receive_dtmf_start`, sans-IO: it takes digits and timer
//! expiries and says what to do (stop the prompt, replay it, arm a timer, finish).
//!
//! Rules (seed + API.md): only keys in `valid_keys` count; a finish key (itself valid)
//! ends collection and is kept only with `including_finish_key`; reaching `max_keys`
//! ends it; `breaking_on_key` stops the prompt at the first valid key. The first-key
//! timer starts when the prompt has finished (at once without a prompt); when it
//! expires the prompt is replayed while `play_repeat` replays remain, after which the
//! collection ends with error `"timeout"`. The inter-key timer (after a key) ends the
//! collection with `"timeout"` and the keys received so far.

/// The parameters of one collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectParams {
    pub valid_keys: String,
    pub max_keys: usize,
    pub finish_keys: String,
    pub first_key_timeout_s: u64,
    pub continues_keys_timeout_s: u64,
    pub has_prompt: bool,
    pub play_repeat: u32,
    pub breaking_on_key: bool,
    pub including_finish_key: bool,
}

/// What the collector asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    None,
    /// Stop the prompt now (a key arrived with `breaking_on_key`).
    StopPrompt,
    /// (Re)start the given timer, replacing any other.
    Arm { seconds: u64 },
    /// Play the prompt again.
    Replay,
    /// Collection is over: `error` is `None` or `"timeout"`; `keys` what was kept.
    Done {
        error: Option<&'static str>,
        keys: String,
    },
}

/// One collection in progress.
#[derive(Debug, Clone)]
pub struct Collector {
    p: CollectParams,
    keys: String,
    prompt_playing: bool,
    replays_left: u32,
    done: bool,
}

impl Collector {
    /// Start: returns the collector and its first step (arm the first-key timer when
    /// there is no prompt; with a prompt the caller starts it and waits).
    pub fn start(p: CollectParams) -> (Collector, Step) {
        let first = if p.has_prompt {
            Step::None
        } else {
            Step::Arm {
                seconds: p.first_key_timeout_s,
            }
        };
        let c = Collector {
            prompt_playing: p.has_prompt,
            replays_left: p.play_repeat,
            p,
            keys: String::new(),
            done: false,
        };
        (c, first)
    }

    pub fn keys(&self) -> &str {
        &self.keys
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn prompt_playing(&self) -> bool {
        self.prompt_playing
    }

    /// A digit arrived (any source). Returns the steps to take, in order.
    pub fn on_digit(&mut self, d: char) -> Vec<Step> {
        if self.done || !self.p.valid_keys.contains(d) {
            return vec![];
        }
        let mut steps = Vec::new();
        if self.prompt_playing && self.p.breaking_on_key {
            self.prompt_playing = false;
            steps.push(Step::StopPrompt);
        }
        if self.p.finish_keys.contains(d) {
            if self.p.including_finish_key {
                self.keys.push(d);
            }
            steps.push(self.finish(None));
            return steps;
        }
        self.keys.push(d);
        if self.keys.chars().count() >= self.p.max_keys {
            steps.push(self.finish(None));
            return steps;
        }
        if !self.prompt_playing {
            steps.push(Step::Arm {
                seconds: self.p.continues_keys_timeout_s,
            });
        }
        steps
    }

    /// The prompt finished playing (or was stopped).
    pub fn on_prompt_done(&mut self) -> Step {
        if self.done {
            return Step::None;
        }
        self.prompt_playing = false;
        let seconds = if self.keys.is_empty() {
            self.p.first_key_timeout_s
        } else {
            self.p.continues_keys_timeout_s
        };
        Step::Arm { seconds }
    }

    /// The armed timer expired.
    pub fn on_timeout(&mut self) -> Step {
        if self.done || self.prompt_playing {
            return Step::None;
        }
        if self.keys.is_empty() && self.p.has_prompt && self.replays_left > 0 {
            self.replays_left -= 1;
            self.prompt_playing = true;
            return Step::Replay;
        }
        self.finish(Some("timeout"))
    }

    /// `stop_receive_dtmf_start`: end now with what was received.
    pub fn stop(&mut self) -> Step {
        if self.done {
            return Step::None;
        }
        self.finish(None)
    }

    fn finish(&mut self, error: Option<&'static str>) -> Step {
        self.done = true;
        Step::Done {
            error,
            keys: self.keys.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> CollectParams {
        CollectParams {
            valid_keys: "0123456789*#ABCD".into(),
            max_keys: 11,
            finish_keys: "#".into(),
            first_key_timeout_s: 45,
            continues_keys_timeout_s: 30,
            has_prompt: false,
            play_repeat: 0,
            breaking_on_key: true,
            including_finish_key: false,
        }
    }

    fn done(keys: &str, error: Option<&'static str>) -> Step {
        Step::Done {
            error,
            keys: keys.into(),
        }
    }

    #[test]
    fn finish_key_ends_and_is_excluded_by_default() {
        let (mut c, first) = Collector::start(params());
        assert_eq!(first, Step::Arm { seconds: 45 });
        assert_eq!(c.on_digit('1'), vec![Step::Arm { seconds: 30 }]);
        assert_eq!(c.on_digit('2'), vec![Step::Arm { seconds: 30 }]);
        assert_eq!(c.on_digit('#'), vec![done("12", None)]);
        assert!(c.is_done());
        assert_eq!(c.on_digit('3'), vec![]);
    }

    #[test]
    fn including_finish_key_keeps_it() {
        let mut p = params();
        p.including_finish_key = true;
        let (mut c, _) = Collector::start(p);
        c.on_digit('7');
        assert_eq!(c.on_digit('#'), vec![done("7#", None)]);
    }

    #[test]
    fn invalid_keys_are_ignored_even_as_finish_keys() {
        let mut p = params();
        p.valid_keys = "123".into();
        p.finish_keys = "#".into();
        let (mut c, _) = Collector::start(p);
        assert_eq!(c.on_digit('9'), vec![]);
        assert_eq!(
            c.on_digit('#'),
            vec![],
            "a finish key outside valid_keys does nothing"
        );
        assert_eq!(c.on_digit('1'), vec![Step::Arm { seconds: 30 }]);
        assert_eq!(c.keys(), "1");
    }

    #[test]
    fn max_keys_ends_collection() {
        let mut p = params();
        p.max_keys = 3;
        let (mut c, _) = Collector::start(p);
        c.on_digit('1');
        c.on_digit('2');
        assert_eq!(c.on_digit('3'), vec![done("123", None)]);
    }

    #[test]
    fn prompt_barge_in_then_timers() {
        let mut p = params();
        p.has_prompt = true;
        let (mut c, first) = Collector::start(p);
        assert_eq!(first, Step::None);
        assert_eq!(
            c.on_timeout(),
            Step::None,
            "no timeout while the prompt plays"
        );
        assert_eq!(
            c.on_digit('5'),
            vec![Step::StopPrompt, Step::Arm { seconds: 30 }]
        );
        assert_eq!(c.on_prompt_done(), Step::Arm { seconds: 30 });
        assert_eq!(c.on_timeout(), done("5", Some("timeout")));
    }

    #[test]
    fn no_barge_in_keeps_prompt_and_collects() {
        let mut p = params();
        p.has_prompt = true;
        p.breaking_on_key = false;
        let (mut c, _) = Collector::start(p);
        assert_eq!(c.on_digit('5'), vec![]);
        assert!(c.prompt_playing());
        assert_eq!(c.on_prompt_done(), Step::Arm { seconds: 30 });
    }

    #[test]
    fn first_key_timeout_replays_prompt_then_times_out() {
        let mut p = params();
        p.has_prompt = true;
        p.play_repeat = 2;
        let (mut c, _) = Collector::start(p);
        assert_eq!(c.on_prompt_done(), Step::Arm { seconds: 45 });
        assert_eq!(c.on_timeout(), Step::Replay);
        assert_eq!(c.on_prompt_done(), Step::Arm { seconds: 45 });
        assert_eq!(c.on_timeout(), Step::Replay);
        assert_eq!(c.on_prompt_done(), Step::Arm { seconds: 45 });
        assert_eq!(c.on_timeout(), done("", Some("timeout")));
    }

    #[test]
    fn stop_returns_what_was_received() {
        let (mut c, _) = Collector::start(params());
        c.on_digit('4');
        assert_eq!(c.stop(), done("4", None));
        assert_eq!(c.stop(), Step::None);
    }
}
