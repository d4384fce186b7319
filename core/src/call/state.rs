//! The call resource's state machine from the seed (`sys.call.rst`): which states exist,
//! which method each state admits, and the transitions the gateway makes. Pure logic:
//! the engine asks before acting and changes nothing when the answer is no.

use std::fmt;

/// Direction of a call, as `call_dir` in `on_released`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallDirection {
    Inbound,
    Outbound,
}

impl CallDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
        }
    }
}

/// The seed's states. `Answer` is an inbound call whose 200 OK waits for its ACK;
/// the action states are entered from `Idle` and return to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initiated,
    Ring,
    Answer,
    Idle,
    Play,
    Record,
    SendDtmf,
    ReceiveDtmf,
    Dial,
    Connect,
    Conference,
    Released,
}

impl State {
    /// The seed's name of the state (used in -32002 error data).
    pub fn name(self) -> &'static str {
        match self {
            State::Initiated => "Initiated",
            State::Ring => "Ring",
            State::Answer => "Answer",
            State::Idle => "Idle",
            State::Play => "Play",
            State::Record => "Record",
            State::SendDtmf => "SendDtmf",
            State::ReceiveDtmf => "ReceiveDtmf",
            State::Dial => "Dial",
            State::Connect => "Connect",
            State::Conference => "Conference",
            State::Released => "Released",
        }
    }

    /// True once the call has been answered (either direction).
    pub fn is_answered(self) -> bool {
        !matches!(
            self,
            State::Initiated | State::Ring | State::Answer | State::Released
        )
    }

    /// True in the CTI action states.
    pub fn is_action(self) -> bool {
        matches!(
            self,
            State::Play
                | State::Record
                | State::SendDtmf
                | State::ReceiveDtmf
                | State::Dial
                | State::Connect
                | State::Conference
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The call methods whose admissibility depends on the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Answer,
    Reject,
    Redirect,
    Drop,
    PlayStart,
    PlayStop,
    RecordStart,
    RecordStop,
    SendDtmfStart,
    ReceiveDtmfStart,
    StopReceiveDtmf,
    ConnectStart,
    ConnectStop,
    ConfEnter,
    ConfExit,
    /// Being named as the parent of an outbound `construct`.
    DialFromParent,
}

/// Why a method is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// -32002: the state does not admit the method.
    State(State),
    /// -32003: the method is never allowed on this call (direction, answered, ...).
    Forbidden(&'static str),
}

/// Decide whether `op` may run on a call in `state` with direction `dir`.
pub fn admit(op: Op, state: State, dir: CallDirection) -> Result<(), Denied> {
    use State::*;
    if state == Released {
        return Err(Denied::State(state));
    }
    let inbound_only = |what: &'static str| -> Result<(), Denied> {
        if dir != CallDirection::Inbound {
            return Err(Denied::Forbidden(what));
        }
        Ok(())
    };
    match op {
        Op::Answer => {
            inbound_only("answer applies to inbound calls only")?;
            if state == Initiated {
                Ok(())
            } else {
                Err(Denied::State(state))
            }
        }
        Op::Reject | Op::Redirect => {
            inbound_only(if op == Op::Reject {
                "reject applies to inbound calls only"
            } else {
                "redirect applies to inbound calls only"
            })?;
            match state {
                Initiated => Ok(()),
                Answer => Err(Denied::State(state)),
                _ => Err(Denied::Forbidden("the call is already answered")),
            }
        }
        // The seed lets the application refuse an offered call with drop (on_incoming),
        // and drop any outbound call in any live state.
        Op::Drop => Ok(()),
        Op::PlayStart
        | Op::RecordStart
        | Op::SendDtmfStart
        | Op::ReceiveDtmfStart
        | Op::ConnectStart
        | Op::DialFromParent => only(state, &[Idle]),
        Op::PlayStop => only(state, &[Play]),
        Op::RecordStop => only(state, &[Record]),
        Op::StopReceiveDtmf => only(state, &[ReceiveDtmf]),
        Op::ConnectStop => only(state, &[Connect]),
        Op::ConfEnter => only(state, &[Ring, Idle, Play, Dial]),
        Op::ConfExit => only(state, &[Conference]),
    }
}

fn only(state: State, allowed: &[State]) -> Result<(), Denied> {
    if allowed.contains(&state) {
        Ok(())
    } else {
        Err(Denied::State(state))
    }
}

/// The state an action method moves an `Idle` call into.
pub fn action_state(op: Op) -> Option<State> {
    Some(match op {
        Op::PlayStart => State::Play,
        Op::RecordStart => State::Record,
        Op::SendDtmfStart => State::SendDtmf,
        Op::ReceiveDtmfStart => State::ReceiveDtmf,
        Op::ConnectStart => State::Connect,
        Op::DialFromParent => State::Dial,
        Op::ConfEnter => State::Conference,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::CallDirection::*;
    use super::State::*;
    use super::*;

    const ALL: [State; 12] = [
        Initiated,
        Ring,
        Answer,
        Idle,
        Play,
        Record,
        SendDtmf,
        ReceiveDtmf,
        Dial,
        Connect,
        Conference,
        Released,
    ];

    #[test]
    fn actions_start_only_from_idle() {
        for op in [
            Op::PlayStart,
            Op::RecordStart,
            Op::SendDtmfStart,
            Op::ReceiveDtmfStart,
            Op::ConnectStart,
        ] {
            for s in ALL {
                let r = admit(op, s, Inbound);
                if s == Idle {
                    assert_eq!(r, Ok(()), "{op:?} in {s}");
                } else {
                    assert_eq!(r, Err(Denied::State(s)), "{op:?} in {s}");
                }
            }
        }
    }

    #[test]
    fn answer_only_inbound_initiated() {
        assert_eq!(admit(Op::Answer, Initiated, Inbound), Ok(()));
        assert_eq!(admit(Op::Answer, Idle, Inbound), Err(Denied::State(Idle)));
        assert_eq!(
            admit(Op::Answer, Answer, Inbound),
            Err(Denied::State(Answer))
        );
        assert!(matches!(
            admit(Op::Answer, Initiated, Outbound),
            Err(Denied::Forbidden(_))
        ));
    }

    #[test]
    fn redirect_and_reject_after_answer_are_forbidden() {
        for op in [Op::Redirect, Op::Reject] {
            assert_eq!(admit(op, Initiated, Inbound), Ok(()));
            assert!(matches!(
                admit(op, Idle, Inbound),
                Err(Denied::Forbidden(_))
            ));
            assert!(matches!(
                admit(op, Play, Inbound),
                Err(Denied::Forbidden(_))
            ));
            assert!(matches!(
                admit(op, Initiated, Outbound),
                Err(Denied::Forbidden(_))
            ));
        }
    }

    #[test]
    fn stops_need_their_action() {
        assert_eq!(admit(Op::PlayStop, Play, Inbound), Ok(()));
        assert_eq!(admit(Op::PlayStop, Idle, Inbound), Err(Denied::State(Idle)));
        assert_eq!(admit(Op::RecordStop, Record, Inbound), Ok(()));
        assert_eq!(
            admit(Op::RecordStop, Play, Inbound),
            Err(Denied::State(Play))
        );
        assert_eq!(admit(Op::StopReceiveDtmf, ReceiveDtmf, Outbound), Ok(()));
        assert_eq!(admit(Op::ConnectStop, Connect, Outbound), Ok(()));
    }

    #[test]
    fn conf_enter_states_match_seed() {
        for s in ALL {
            let ok = admit(Op::ConfEnter, s, Outbound).is_ok();
            assert_eq!(ok, matches!(s, Ring | Idle | Play | Dial), "{s}");
        }
    }

    #[test]
    fn nothing_is_admitted_once_released() {
        for op in [Op::Drop, Op::Answer, Op::PlayStart, Op::Reject] {
            assert_eq!(admit(op, Released, Inbound), Err(Denied::State(Released)));
        }
    }

    #[test]
    fn answered_predicate() {
        assert!(!Initiated.is_answered());
        assert!(!Ring.is_answered());
        assert!(!Answer.is_answered());
        assert!(Idle.is_answered());
        assert!(Play.is_answered());
        assert!(!Released.is_answered());
    }
}
