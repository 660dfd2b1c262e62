//! `hazardloop-bench`: benchmarks that run the release `hazardloop` server as a child process on
//! a fresh SQLite file or PostgreSQL database and drive it over HTTP on 127.0.0.1, printing
//! markdown tables. One module per scenario; `harness` (the server process), `client` (HTTP and
//! the seeded users) and `measure` (percentiles, memory, tables) are shared.

mod client;
mod closed_loop;
mod console;
mod first_sync;
mod harness;
mod ingest;
mod ledger;
mod measure;
mod photos;
mod renditions;
mod sync;
mod webhooks;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hazardloop-bench",
    about = "Drive the release hazardloop server over HTTP and print tables"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N hazards through report → assign → start → submit_rectification → verify: commands/s
    /// and latency percentiles.
    ClosedLoop(closed_loop::ClosedLoopArgs),
    /// Load N hazards, then time the stats, the streamed CSV ledger export and the XLSX ledger
    /// export, and watch the server's memory.
    Ledger(ledger::LedgerArgs),
    /// Report hazards at a fixed rate with webhooks subscribed: deliveries per second to a local
    /// receiver and the outbox lag (event commit to delivery) percentiles.
    Webhooks(webhooks::WebhooksArgs),
    /// Devices pushing offline queues concurrently (mutations/s, push latency), the first pull
    /// of a large snapshot (seconds, server memory), and the raw diesel insert floor.
    Sync(sync::SyncArgs),
    /// The console's hazard list and detail pages over a large organisation: render time
    /// percentiles at a given concurrency.
    Console(console::ConsoleArgs),
    /// Photo uploads beside raw disk writes, server memory under 20 concurrent 25 MB uploads,
    /// renditions per second, and field submissions (inspection + ten answers + a photo), on
    /// SQLite + local folder and PostgreSQL + s3s-fs.
    Photos(photos::PhotosArgs),
    /// A phone's first pull of a large seeded organisation: server time per page, client
    /// parse time, entities/s and server memory.
    FirstSync(first_sync::FirstSyncArgs),
    /// Sustained field submissions (a unique JPEG PUT + a pushed report linking it) with jobs
    /// on: rate and latency while uploading, rate until the last thumbnail, server CPU per
    /// submission.
    Ingest(ingest::IngestArgs),
    /// The cost of a photo's thumbnail and display image, per step, in this process.
    Renditions(renditions::RenditionsArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let scenario = async {
        match cli.scenario {
            Scenario::ClosedLoop(args) => closed_loop::run(args).await,
            Scenario::Ledger(args) => ledger::run(args).await,
            Scenario::Webhooks(args) => webhooks::run(args).await,
            Scenario::Sync(args) => sync::run(args).await,
            Scenario::Photos(args) => photos::run(args).await,
            Scenario::Renditions(args) => renditions::run(args).await,
            Scenario::Ingest(args) => ingest::run(args).await,
            Scenario::FirstSync(args) => first_sync::run(args).await,
            Scenario::Console(args) => console::run(args).await,
        }
    };
    // On Ctrl-C the scenario future is dropped, and with it the server guard, which kills the
    // server and drops its database.
    tokio::select! {
        result = scenario => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    }
}
