//! What the bench reads from the operating system: a process's CPU time and resident memory from
//! `/proc` (Linux), and the bytes a directory holds on disk.

use std::path::Path;

use anyhow::Context;

/// `/proc/PID/stat` counts CPU time in clock ticks of `USER_HZ`, which Linux fixes at 100 for
/// user space whatever the kernel's own tick.
const USER_HZ: f64 = 100.0;

/// A process's CPU time and memory at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcessSample {
    /// User plus system CPU seconds, every thread.
    pub(crate) cpu_s: f64,
    pub(crate) rss_bytes: u64,
    pub(crate) rss_peak_bytes: u64,
}

impl ProcessSample {
    pub(crate) fn read(pid: u32) -> anyhow::Result<ProcessSample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat (is process {pid} running?)"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        parse(&stat, &status).with_context(|| format!("/proc/{pid} is not as expected"))
    }
}

/// The sample in `/proc/PID/stat` and `/proc/PID/status`.
fn parse(stat: &str, status: &str) -> anyhow::Result<ProcessSample> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    let after_name = stat
        .rfind(')')
        .map(|at| &stat[at + 1..])
        .context("no command name in stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of stat(5), counted from 1, are 11 and 12 after the name.
    let ticks = |index: usize| -> anyhow::Result<f64> {
        let field = fields.get(index).context("stat is too short")?;
        Ok(field.parse::<u64>().context("a CPU time is not a number")? as f64)
    };
    let cpu_s = (ticks(11)? + ticks(12)?) / USER_HZ;
    let kilobytes = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .with_context(|| format!("no {name} in status"))?;
        let number = line.trim().trim_end_matches("kB").trim();
        Ok(number
            .parse::<u64>()
            .with_context(|| format!("{name} is not a number"))?
            * 1024)
    };
    Ok(ProcessSample {
        cpu_s,
        rss_bytes: kilobytes("VmRSS:")?,
        rss_peak_bytes: kilobytes("VmHWM:")?,
    })
}

/// The bytes allocated on disk to the files under `dir` (blocks, not lengths: a file's preallocated
/// or sparse part counts as the disk holds it).
pub(crate) fn disk_bytes(dir: &Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let metadata = entry
                .metadata()
                .with_context(|| format!("cannot stat {}", entry.path().display()))?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                total += metadata.blocks() * 512;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_from_proc() {
        let stat = "4242 (med ledger (x)) S 1 4242 4242 0 -1 4194560 2117 0 0 0 250 75 0 0 20 0 9 0 1234 100000 2000";
        let status =
            "Name:\tmedledger\nVmPeak:\t 900 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\n";
        let sample = parse(stat, status).expect("parses");
        assert_eq!(sample.cpu_s, 3.25);
        assert_eq!(sample.rss_bytes, 30 * 1024 * 1024);
        assert_eq!(sample.rss_peak_bytes, 40 * 1024 * 1024);
        assert!(parse("1 (x) S 1", status).is_err());
        assert!(parse(stat, "Name: x\n").is_err());
    }

    #[test]
    fn this_process_can_be_read() {
        let sample = ProcessSample::read(std::process::id()).expect("/proc/self");
        assert!(sample.rss_bytes > 0 && sample.rss_peak_bytes >= sample.rss_bytes);
    }

    #[test]
    fn a_directory_counts_its_files_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = disk_bytes(dir.path()).expect("size");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/a"), vec![7u8; 10_000]).expect("write");
        let grown = disk_bytes(dir.path()).expect("size");
        assert!(grown >= empty + 10_000, "{empty} → {grown}");
        assert!(disk_bytes(&dir.path().join("missing")).is_err());
    }
}
