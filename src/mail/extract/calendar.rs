//! iCalendar files (RFC 5545), such as meeting invitations, parsed with the icalendar
//! crate's parser into [`CalendarEvent`]s (summary, organiser, start and end with their time
//! zones, attendees with their answers, location, status, recurrence) and rendered as text.
//! The method of an invitation (REQUEST, CANCEL, REPLY) is kept with each event.

use icalendar::parser::{Component, Property, read_calendar, unfold};
use schemars::JsonSchema;
use serde::Serialize;

use super::{Budget, ExtractError};

/// The most events read from one file.
const MAX_EVENTS: usize = 200;

/// The most characters of an event's description kept.
const MAX_DESCRIPTION_CHARS: usize = 4_000;

/// One event (VEVENT) of a calendar file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CalendarEvent {
    /// What the file asks for: REQUEST (an invitation), CANCEL, REPLY, PUBLISH, ...
    pub method: Option<String>,
    pub summary: Option<String>,
    pub organizer: Option<CalendarPerson>,
    pub start: Option<CalendarTime>,
    pub end: Option<CalendarTime>,
    pub location: Option<String>,
    /// CONFIRMED, TENTATIVE or CANCELLED.
    pub status: Option<String>,
    /// The recurrence rule as written (RRULE), e.g. "FREQ=WEEKLY;BYDAY=MO".
    pub recurrence: Option<String>,
    pub attendees: Vec<CalendarPerson>,
    /// The description, cut at 4000 characters.
    pub description: Option<String>,
    /// The event's UID, the same in every update of the invitation.
    pub uid: Option<String>,
}

/// An organiser or attendee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CalendarPerson {
    pub name: Option<String>,
    pub email: Option<String>,
    /// For attendees: REQ-PARTICIPANT, OPT-PARTICIPANT, CHAIR, ...
    pub role: Option<String>,
    /// For attendees: NEEDS-ACTION, ACCEPTED, DECLINED, TENTATIVE, ...
    pub status: Option<String>,
}

/// A start or end time as the file gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CalendarTime {
    /// ISO 8601: "2026-03-05T10:00:00" (local to `time_zone`), "2026-03-05T09:00:00Z"
    /// (UTC), or "2026-03-05" for an all-day event.
    pub value: String,
    /// The time zone (TZID) the local time is in, "UTC", or absent for floating times
    /// and all-day dates.
    pub time_zone: Option<String>,
    pub all_day: bool,
}

/// Reads the events of the calendar file `bytes` into `out` and returns them.
pub fn read(bytes: &[u8], out: &mut Budget<'_>) -> Result<Vec<CalendarEvent>, ExtractError> {
    let unfolded = unfold(&String::from_utf8_lossy(bytes));
    let calendar = read_calendar(&unfolded).map_err(|e| out.unreadable(e))?;
    let method = calendar
        .properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case("METHOD"))
        .map(|p| p.val.as_str().to_owned());
    let mut events = Vec::new();
    collect_events(&calendar.components, &method, &mut events);
    if events.is_empty() {
        return Err(out.unreadable("it holds no event (VEVENT)"));
    }
    for event in &events {
        out.push(&render(event));
        out.push("\n");
    }
    Ok(events)
}

fn collect_events(
    components: &[Component<'_>],
    method: &Option<String>,
    into: &mut Vec<CalendarEvent>,
) {
    for component in components {
        if into.len() == MAX_EVENTS {
            return;
        }
        if component.name.as_str().eq_ignore_ascii_case("VEVENT") {
            into.push(event_of(component, method.clone()));
        } else {
            collect_events(&component.components, method, into);
        }
    }
}

fn event_of(event: &Component<'_>, method: Option<String>) -> CalendarEvent {
    let text = |name: &str| event.find_prop(name).map(text_value);
    CalendarEvent {
        method,
        summary: text("SUMMARY"),
        organizer: event.find_prop("ORGANIZER").map(person),
        start: event.find_prop("DTSTART").map(time),
        end: event.find_prop("DTEND").map(time),
        location: text("LOCATION"),
        status: text("STATUS"),
        recurrence: event.find_prop("RRULE").map(|p| p.val.as_str().to_owned()),
        attendees: event
            .properties
            .iter()
            .filter(|p| p.name.as_str().eq_ignore_ascii_case("ATTENDEE"))
            .map(person)
            .collect(),
        description: text("DESCRIPTION").map(|d| d.chars().take(MAX_DESCRIPTION_CHARS).collect()),
        uid: text("UID"),
    }
}

/// A TEXT value with its escapes (`\,` `\;` `\n`) undone.
fn text_value(property: &Property<'_>) -> String {
    property
        .val
        .clone()
        .unescape_text()
        .as_str()
        .trim()
        .to_owned()
}

fn parameter(property: &Property<'_>, key: &str) -> Option<String> {
    property
        .params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|p| p.val.as_ref())
        .map(|v| v.as_str().trim_matches('"').to_owned())
}

fn person(property: &Property<'_>) -> CalendarPerson {
    let value = property.val.as_str().trim();
    let email = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .map(|_| value[7..].to_owned())
        .or_else(|| value.contains('@').then(|| value.to_owned()));
    CalendarPerson {
        name: parameter(property, "CN"),
        email,
        role: parameter(property, "ROLE"),
        status: parameter(property, "PARTSTAT"),
    }
}

fn time(property: &Property<'_>) -> CalendarTime {
    let raw = property.val.as_str().trim();
    let all_day = parameter(property, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
        || (raw.len() == 8 && raw.bytes().all(|b| b.is_ascii_digit()));
    let utc = raw.ends_with(['Z', 'z']);
    let time_zone = match (all_day, utc) {
        (true, _) => None,
        (false, true) => Some("UTC".to_owned()),
        (false, false) => parameter(property, "TZID"),
    };
    CalendarTime {
        value: iso_8601(raw),
        time_zone,
        all_day,
    }
}

/// "20260305T100000Z" as "2026-03-05T10:00:00Z", "20260305" as "2026-03-05"; anything
/// else as written.
fn iso_8601(raw: &str) -> String {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (date, rest) = raw.split_at(raw.len().min(8));
    if date.len() != 8 || !digits(date) {
        return raw.to_owned();
    }
    let day = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
    let Some(clock) = rest.strip_prefix(['T', 't']) else {
        return if rest.is_empty() { day } else { raw.to_owned() };
    };
    let (hms, zone) = clock.split_at(clock.len().min(6));
    if hms.len() != 6 || !digits(hms) {
        return raw.to_owned();
    }
    format!(
        "{day}T{}:{}:{}{}",
        &hms[..2],
        &hms[2..4],
        &hms[4..],
        zone.to_ascii_uppercase()
    )
}

/// An event as lines of text.
fn render(event: &CalendarEvent) -> String {
    let mut lines = vec![format!(
        "Event: {}",
        event.summary.as_deref().unwrap_or("(no title)")
    )];
    let mut add = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            lines.push(format!("{label}: {value}"));
        }
    };
    add("Method", event.method.clone());
    add("Status", event.status.clone());
    add("Starts", event.start.as_ref().map(render_time));
    add("Ends", event.end.as_ref().map(render_time));
    add("Repeats", event.recurrence.clone());
    add("Location", event.location.clone());
    add("Organizer", event.organizer.as_ref().map(render_person));
    for attendee in &event.attendees {
        add("Attendee", Some(render_person(attendee)));
    }
    add("Description", event.description.clone());
    lines.join("\n") + "\n"
}

fn render_time(time: &CalendarTime) -> String {
    match (&time.time_zone, time.all_day) {
        (_, true) => format!("{} (all day)", time.value),
        (Some(zone), false) if zone != "UTC" => format!("{} ({zone})", time.value),
        _ => time.value.clone(),
    }
}

fn render_person(person: &CalendarPerson) -> String {
    let mut text = match (&person.name, &person.email) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name.clone(),
        (None, Some(email)) => email.clone(),
        (None, None) => "(unnamed)".into(),
    };
    let details: Vec<&str> = [&person.role, &person.status]
        .into_iter()
        .filter_map(|d| d.as_deref())
        .collect();
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::{Format, Limits};
    use super::*;

    pub(crate) const INVITE: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n\
METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:abc-123@example.com\r\n\
SUMMARY:Budget review\\, Q3\r\nDTSTART;TZID=Europe/Berlin:20260305T100000\r\n\
DTEND;TZID=Europe/Berlin:20260305T113000\r\nLOCATION:Room 4\\; Building B\r\n\
ORGANIZER;CN=Ann Smith:mailto:ann@example.com\r\n\
ATTENDEE;CN=Bob Jones;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:bob@example.com\r\n\
ATTENDEE;CN=\"Carl, Jr.\";PARTSTAT=ACCEPTED:mailto:carl@example.com\r\n\
DESCRIPTION:Agenda:\\n1. Numbers\\n2. Plans which are long enough to be fol\r\n ded\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";

    fn read_str(ics: &str) -> Result<(Vec<CalendarEvent>, String), ExtractError> {
        let limits = Limits::default();
        let mut out = Budget::new(Format::Calendar, &limits, Instant::now() + limits.time);
        let events = read(ics.as_bytes(), &mut out)?;
        Ok((events, out.finish(None).text))
    }

    #[test]
    fn an_invitation_reads_as_a_structured_event() {
        let (events, text) = read_str(INVITE).unwrap();
        let event = &events[0];
        assert_eq!(event.method.as_deref(), Some("REQUEST"));
        assert_eq!(event.summary.as_deref(), Some("Budget review, Q3"));
        assert_eq!(event.location.as_deref(), Some("Room 4; Building B"));
        let start = event.start.as_ref().unwrap();
        assert_eq!(start.value, "2026-03-05T10:00:00");
        assert_eq!(start.time_zone.as_deref(), Some("Europe/Berlin"));
        let organizer = event.organizer.as_ref().unwrap();
        assert_eq!(organizer.email.as_deref(), Some("ann@example.com"));
        assert_eq!(organizer.name.as_deref(), Some("Ann Smith"));
        assert_eq!(event.attendees.len(), 2);
        assert_eq!(event.attendees[1].name.as_deref(), Some("Carl, Jr."));
        assert_eq!(event.attendees[0].status.as_deref(), Some("NEEDS-ACTION"));
        assert!(
            event
                .description
                .as_deref()
                .unwrap()
                .ends_with("long enough to be folded")
        );
        for line in [
            "Event: Budget review, Q3",
            "Starts: 2026-03-05T10:00:00 (Europe/Berlin)",
            "Organizer: Ann Smith <ann@example.com>",
            "Attendee: Bob Jones <bob@example.com> (REQ-PARTICIPANT, NEEDS-ACTION)",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
    }

    #[test]
    fn times_read_as_iso_8601() {
        assert_eq!(iso_8601("20260305T100000Z"), "2026-03-05T10:00:00Z");
        assert_eq!(iso_8601("20260305"), "2026-03-05");
        assert_eq!(iso_8601("garbage"), "garbage");
        assert_eq!(iso_8601("2026030"), "2026030");
    }

    #[test]
    fn a_file_without_events_is_unreadable() {
        assert!(read_str("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").is_err());
        assert!(read_str("not a calendar").is_err());
    }
}
