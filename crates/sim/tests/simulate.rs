//! Seeds through the deterministic simulation. A failure prints the seed and step and the broken
//! invariant; `Simulation::new(seed).run(steps)` replays it exactly.

use medledger_sim::Simulation;

/// Seeds per run and steps per seed: enough to hit collisions, replays, lies and restarts every run.
const SEEDS_COUNT: u64 = 12;
const STEPS_PER_SEED: u64 = 60;

#[test]
fn two_peers_agree_on_every_block_under_random_workloads_and_faults() {
    let mut totals = medledger_sim::Report::default();
    for seed in 0..SEEDS_COUNT {
        let report = Simulation::new(seed)
            .run(STEPS_PER_SEED)
            .unwrap_or_else(|v| panic!("{v}"));
        totals.blocks += report.blocks;
        totals.valid += report.valid;
        totals.invalid += report.invalid;
        totals.lies_refused += report.lies_refused;
        totals.restarts += report.restarts;
    }
    // The scenario must really have exercised each kind of event, or the test proves nothing.
    assert!(totals.blocks > 50, "{totals:?}");
    assert!(totals.valid > 100, "{totals:?}");
    assert!(totals.invalid > 20, "{totals:?}");
    assert!(totals.lies_refused > 5, "{totals:?}");
    assert!(totals.restarts > 5, "{totals:?}");
}

#[test]
fn a_seed_replays_identically() {
    let first = Simulation::new(7).run(40).unwrap_or_else(|v| panic!("{v}"));
    let second = Simulation::new(7).run(40).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(first, second);
}

#[test]
fn a_block_commit_survives_a_fault_at_every_disk_write_and_sync() {
    // Eight seeds: different workloads, block sizes and tearings (bounded: a few seconds in all).
    for seed in [7, 19, 31, 43, 59, 71, 83, 97] {
        let campaign =
            medledger_sim::faults::FaultCampaign::new(seed, 3).unwrap_or_else(|v| panic!("{v:?}"));
        assert!(campaign.block_count() >= 3, "the simulation made blocks");
        let report = campaign.run().unwrap_or_else(|v| panic!("{v:?}"));
        assert!(report.operations >= 4, "{report:?}");
        assert_eq!(report.power_losses, report.operations, "{report:?}");
        assert_eq!(report.disk_full, report.operations);
        assert_eq!(report.io_errors, report.operations);
    }
}
