//! Log set-up: human-readable text by default, JSON lines by option.
//!
//! One adjustment to what libraries log: actix-http reports a request it could not parse (a
//! head too large, a bad header, a connection the client broke) as `ERROR stream error: …`,
//! although the client caused it and got its 4xx. [`ClientFaults`] writes those at WARN under
//! the target `hazardloop_api::http` instead, so ERROR stays for faults of the server.

use std::sync::OnceLock;

use tracing::callsite::{Callsite, Identifier};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{FieldSet, Visit};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once; later calls are ignored (tests start many servers).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_env("HAZARDLOOP_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(ClientFaults::default());
    let _ = if format == "json" {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr).with_ansi(ansi))
            .try_init()
    };
}

/// The target and message prefix of actix-http's report of a connection that ended in an
/// error, and the parts of it that say the client caused it.
const DISPATCHER: &str = "actix_http::h1::dispatcher";
const STREAM_ERROR: &str = "stream error: ";
const CLIENT_CAUSED: [&str; 2] = ["request parse error", "I/O error"];

struct ClientFaultSite;
static CLIENT_FAULT_SITE: ClientFaultSite = ClientFaultSite;
static CLIENT_FAULT: Metadata<'static> = Metadata::new(
    "client request refused",
    "hazardloop_api::http",
    Level::WARN,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(&["message", "error"], Identifier(&CLIENT_FAULT_SITE)),
    Kind::EVENT,
);

impl Callsite for ClientFaultSite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &CLIENT_FAULT
    }
}

/// The message of an event, when it is a plain string.
#[derive(Default)]
struct Message(Option<String>);

impl Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The error text of a client-caused failure logged by actix-http, if `event` is one.
fn client_fault(event: &Event<'_>) -> Option<String> {
    let meta = event.metadata();
    if *meta.level() != Level::ERROR || meta.target() != DISPATCHER {
        return None;
    }
    let mut message = Message::default();
    event.record(&mut message);
    let error = message.0?.strip_prefix(STREAM_ERROR)?.to_string();
    CLIENT_CAUSED
        .iter()
        .any(|c| error.starts_with(c))
        .then_some(error)
}

/// Replaces actix-http's ERROR for a client's malformed request with a WARN of ours.
#[derive(Default)]
pub struct ClientFaults {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let Some(error) = client_fault(event) else {
            return true;
        };
        // Events logged from inside a subscriber are dropped by tracing's re-entrancy guard, so
        // the replacement goes to the subscriber directly; the original is disabled.
        if let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) {
            if dispatch.enabled(&CLIENT_FAULT) {
                let fields = CLIENT_FAULT.fields();
                let (Some(message), Some(error_field)) =
                    (fields.field("message"), fields.field("error"))
                else {
                    return false;
                };
                let text = format_args!("the client sent a request that cannot be served");
                let values: [(&tracing::field::Field, Option<&dyn tracing::Value>); 2] = [
                    (&message, Some(&text as &dyn tracing::Value)),
                    (&error_field, Some(&error as &dyn tracing::Value)),
                ];
                let values = fields.value_set(&values);
                dispatch.event(&Event::new(&CLIENT_FAULT, &values));
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(emit: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("info"))
            .with(ClientFaults::default())
            .with(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text
    }

    #[test]
    fn a_clients_malformed_request_is_a_warning_not_an_error() {
        for error in [
            "request parse error: message head is too large",
            "request parse error: invalid Header provided",
            "I/O error: Connection reset by peer (os error 104)",
        ] {
            let text = logged(|| {
                tracing::error!(target: "actix_http::h1::dispatcher", "stream error: {}", error);
            });
            assert!(!text.contains("ERROR"), "{text}");
            assert!(text.contains("WARN"), "{text}");
            assert!(text.contains("hazardloop_api::http"), "{text}");
            assert!(text.contains(error), "{text}");
        }
    }

    #[test]
    fn server_faults_stay_errors() {
        let text = logged(|| {
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: {}", "internal error");
            tracing::error!(target: "actix_http::h1::dispatcher", "Response payload stream error: x");
            tracing::error!("internal error");
        });
        assert_eq!(text.matches("ERROR").count(), 3, "{text}");
        assert!(!text.contains("WARN"), "{text}");
    }
}
