//! The `medledger` binary: parse flags, turn them into a configuration, run, and map the outcome to an
//! exit code. Everything else lives in the library crates.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use medledger_node::{DataDir, InitOptions, InitOutcome, Node, NodeOptions};
use medledger_types::BatchConfig;

#[derive(Parser, Debug)]
#[command(
    name = "medledger",
    version,
    about = "A permissioned blockchain for electronic health records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node; on the first run, create a one-organization network in the data directory.
    Up {
        /// The node's data directory (created if missing).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The organization's MSP id, used only when creating the network.
        #[arg(long, default_value = "Org1")]
        org: String,
        /// The first administrator's email, used only when creating the network.
        #[arg(long, default_value = "admin@medledger.local")]
        admin_email: String,
        /// Close a block after this many milliseconds without reaching its size limits.
        #[arg(long)]
        block_timeout_ms: Option<u64>,
        /// Close a block at this many transactions.
        #[arg(long)]
        block_tx_count: Option<u32>,
    },
    /// Check a stopped node's whole ledger offline: hashes, links, Merkle roots, signatures, certificates,
    /// validation codes, and a replay of every transaction that must reproduce the stored state.
    Verify {
        /// The node's data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            data,
            org,
            admin_email,
            block_timeout_ms,
            block_tx_count,
        } => up(data, org, admin_email, block_timeout_ms, block_tx_count),
        Command::Verify { data } => verify(data),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn up(
    data: PathBuf,
    org: String,
    admin_email: String,
    block_timeout_ms: Option<u64>,
    block_tx_count: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let data = DataDir::new(data);
    let mut batch = BatchConfig::default();
    if let Some(ms) = block_timeout_ms {
        batch.timeout_ms = ms;
    }
    if let Some(count) = block_tx_count {
        batch.tx_count_max = count;
    }
    let options = InitOptions {
        msp_id: org,
        admin_email: admin_email.clone(),
        batch: batch.clone(),
        ..InitOptions::default()
    };
    let outcome = medledger_node::init(&data, &options)
        .with_context(|| format!("cannot initialize {}", data.root().display()))?;
    let node_options = NodeOptions {
        batch: (block_timeout_ms.is_some() || block_tx_count.is_some()).then_some(batch),
    };
    let node = Node::start(&data, &node_options)
        .with_context(|| format!("cannot start the node in {}", data.root().display()))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        if let InitOutcome::Created { admin } = &outcome {
            medledger_node::register_first_admin(&node, admin, &admin_email)
                .await
                .context("cannot record the first administrator on the ledger")?;
            eprintln!(
                "created a new network in {}; first administrator: {admin_email}",
                data.root().display()
            );
        }
        eprintln!(
            "medledger is running: channel {}, {} blocks, started in {} ms. Press Ctrl-C to stop.",
            node.channel_name(),
            node.peer().height(),
            started.elapsed().as_millis()
        );
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        anyhow::Ok(())
    })?;
    eprintln!("stopping: ordering and committing what is pending");
    node.shutdown().context("the node stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

fn verify(data: PathBuf) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(data);
    let path = data.ledger();
    if !path.exists() {
        anyhow::bail!("{} does not exist: nothing to verify", path.display());
    }
    // First with redb's page checksums over the whole file, so an altered byte anywhere in the
    // committed data is caught; if that fails, open without the check so that the replay can still name
    // the block the damage is in. (The checked open may also finish redb's recovery after a crash.)
    let checked = medledger_store::RedbOptions {
        check_integrity_on_open: true,
        ..Default::default()
    };
    let (store, integrity_problem) = match medledger_store::RedbStore::open_with(&path, &checked) {
        Ok(store) => (store, None),
        Err(e) => match medledger_store::RedbStore::open(&path) {
            Ok(store) => (store, Some(e)),
            Err(_) => {
                println!(
                    "FAILED: cannot open {}: {e} (is the node still running?)",
                    path.display()
                );
                return Ok(ExitCode::from(2));
            }
        },
    };
    let mut last_report = Instant::now();
    let mut progress = |done: u64, total: u64| {
        if last_report.elapsed() >= Duration::from_secs(1) || done == total {
            eprintln!("verified {done}/{total} blocks");
            last_report = Instant::now();
        }
    };
    let outcome = medledger_peer::verify::verify_ledger(&store, &mut progress);
    if let Some(problem) = &integrity_problem {
        println!("FAILED: the ledger file's page checksums do not match: {problem}");
    }
    match outcome {
        Ok(_) if integrity_problem.is_some() => Ok(ExitCode::from(2)),
        Ok(report) => {
            println!(
                "ok: {} blocks, {} transactions ({} valid), {} state keys; ledger root {} over {} entries",
                report.blocks,
                report.transactions,
                report.valid_transactions,
                report.state_keys,
                report.ledger_root,
                report.ledger_size
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
