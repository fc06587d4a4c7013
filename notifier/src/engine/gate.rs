//! Which events reach the receivers: maintenance windows and flapping episodes hold an
//! incident's notifications (the incident is still tracked), a down parent monitor silences
//! the opening of its children's incidents, and when a hold ends the receivers hear what
//! changed meanwhile. An incident's `silenced` flag says the receivers have not heard its
//! latest state: its opening while it is open, its recovery once resolved.

/// What surrounds an event when it happens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Inside one of the monitor's maintenance windows.
    pub in_maintenance: bool,
    /// The monitor is flapping (`flapping.rs`).
    pub flapping: bool,
    /// The open incident of the monitor's parent, while the parent is down.
    pub parent_incident: Option<String>,
}

impl Context {
    fn held(&self) -> bool {
        self.in_maintenance || self.flapping
    }
}

/// What to do with an incident's opening or recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub send: bool,
    /// The incident's `silenced` flag after the event.
    pub silenced: bool,
}

/// An incident opens: sent, unless held (sent when the hold ends, if still open) or caused by
/// the down parent (`caused_by`: listed as the parent's, never announced on its own).
pub fn opened(ctx: &Context) -> (Decision, Option<String>) {
    let caused_by = ctx.parent_incident.clone();
    let quiet = ctx.held() || caused_by.is_some();
    (
        Decision {
            send: !quiet,
            silenced: quiet,
        },
        caused_by,
    )
}

/// An incident resolves. `silenced`: its receivers have not heard of it; `caused_by_parent`:
/// it opened silently under a down parent. Its recovery is sent unless held; held, it is sent
/// when the hold ends. An incident the receivers never heard of (opened and resolved within a
/// hold) ends quietly; one caused by a parent still sends its recovery.
pub fn resolved(ctx: &Context, silenced: bool, caused_by_parent: bool) -> Decision {
    let heard = !silenced || caused_by_parent;
    if ctx.held() {
        return Decision {
            send: false,
            silenced: heard,
        };
    }
    Decision {
        send: heard,
        silenced: false,
    }
}

/// A follow-up of an open incident (severity change, escalation, reminder): sent only when the
/// receivers know of the incident and nothing holds it.
pub fn follow_up(ctx: &Context, silenced: bool) -> bool {
    !silenced && !ctx.held()
}

/// An event of no incident (no data, certificate, flapping itself): held only by maintenance.
pub fn other(ctx: &Context) -> bool {
    !ctx.in_maintenance
}

/// What a hold's end (a maintenance window ending, a flapping episode settling) sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// The incident opened during the hold and is still open: announced now.
    Incident,
    /// The incident was announced and resolved during the hold: its recovery now.
    Recovery,
}

/// The catch-up for one incident when the hold ends (`open`, its `silenced` flag, whether a
/// parent caused it); the incident is no longer silenced after one.
pub fn hold_ended(
    ctx: &Context,
    open: bool,
    silenced: bool,
    caused_by_parent: bool,
) -> Option<CatchUp> {
    if ctx.held() || !silenced {
        return None;
    }
    match (open, caused_by_parent) {
        (true, false) => Some(CatchUp::Incident),
        // Still listed as caused by the parent; its recovery is sent when it comes.
        (true, true) => None,
        (false, _) => Some(CatchUp::Recovery),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(in_maintenance: bool, flapping: bool, parent: bool) -> Context {
        Context {
            in_maintenance,
            flapping,
            parent_incident: parent.then(|| "inc_parent".to_string()),
        }
    }

    const SEND: Decision = Decision {
        send: true,
        silenced: false,
    };
    const HOLD: Decision = Decision {
        send: false,
        silenced: true,
    };
    const DROP: Decision = Decision {
        send: false,
        silenced: false,
    };

    #[test]
    fn openings() {
        let cases = [
            ("normal", ctx(false, false, false), SEND, None),
            ("maintenance", ctx(true, false, false), HOLD, None),
            ("flapping", ctx(false, true, false), HOLD, None),
            (
                "parent down",
                ctx(false, false, true),
                HOLD,
                Some("inc_parent".to_string()),
            ),
        ];
        for (name, c, want, caused_by) in cases {
            assert_eq!(opened(&c), (want, caused_by), "{name}");
        }
    }

    #[test]
    fn recoveries() {
        // (context, silenced, caused by parent, expected)
        let cases = [
            ("announced", ctx(false, false, false), false, false, SEND),
            (
                "announced, resolved in maintenance: held",
                ctx(true, false, false),
                false,
                false,
                HOLD,
            ),
            (
                "never announced, resolved in maintenance",
                ctx(true, false, false),
                true,
                false,
                DROP,
            ),
            (
                "never announced, resolved after the window",
                ctx(false, false, false),
                true,
                false,
                DROP,
            ),
            (
                "caused by the parent: not suppressed",
                ctx(false, false, true),
                true,
                true,
                SEND,
            ),
            (
                "caused by the parent, in maintenance: held",
                ctx(true, false, false),
                true,
                true,
                HOLD,
            ),
            (
                "announced, resolved while flapping: held",
                ctx(false, true, false),
                false,
                false,
                HOLD,
            ),
        ];
        for (name, c, silenced, caused, want) in cases {
            assert_eq!(resolved(&c, silenced, caused), want, "{name}");
        }
    }

    #[test]
    fn hold_ends_with_what_changed() {
        let free = ctx(false, false, false);
        let cases = [
            (
                "opened in the window, still open",
                true,
                true,
                false,
                Some(CatchUp::Incident),
            ),
            (
                "announced and resolved in the window",
                false,
                true,
                false,
                Some(CatchUp::Recovery),
            ),
            ("announced before, still open", true, false, false, None),
            ("caused by the parent, still open", true, true, true, None),
            ("nothing held", false, false, false, None),
        ];
        for (name, open, silenced, caused, want) in cases {
            assert_eq!(hold_ended(&free, open, silenced, caused), want, "{name}");
        }
        assert_eq!(
            hold_ended(&ctx(true, false, false), true, true, false),
            None,
            "another window still holds it"
        );
    }

    #[test]
    fn follow_ups_and_other_events() {
        assert!(follow_up(&ctx(false, false, false), false));
        assert!(
            !follow_up(&ctx(false, false, false), true),
            "never announced"
        );
        assert!(!follow_up(&ctx(true, false, false), false));
        assert!(!follow_up(&ctx(false, true, false), false));
        assert!(other(&ctx(false, true, true)));
        assert!(!other(&ctx(true, false, false)));
    }
}
