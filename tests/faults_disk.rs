//! Issue 21, the fault suite: the archive's disk full. A real ENOSPC, from a
//! small tmpfs mounted for the test (CI runs it as root, as this container
//! does; a machine that cannot mount fails the test and says why). The
//! archiver stops committing, says why in one line, loses nothing, and
//! continues once space returns.

use crate::faults_broker::{archived_trades, assert_archived_once, real_window, wait_for};
use crate::support::kafka::Broker;
use crate::support::process::Service;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;
/// 2013-10-07T17:00:00Z: two windows of real trades, one produced before
/// the disk fills and one while it is full.
const FROM_MS: i64 = 1_381_165_200_000;
const MINUTE_MS: i64 = 60_000;
const FULL_LINE: &str = "The archive's disk is full";

/// A tmpfs of `size` mounted on a new directory, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        let point = dir.join("disk");
        std::fs::create_dir(&point).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&point)
            .output()
            .expect("mount runs");
        assert!(
            mounted.status.success(),
            "the disk-full test mounts a small tmpfs and needs root (or CAP_SYS_ADMIN) for it: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        SmallDisk(point)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` with it until a write fails with ENOSPC.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    loop {
        match file.write_all(&block).and_then(|()| file.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

/// The archiver group's committed offsets, per partition.
fn committed(bootstrap: &str) -> Vec<Offset> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tickflow-archiver")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition("ticks", partition);
    }
    let offsets = consumer.committed_offsets(list, Duration::from_secs(30)).expect("committed offsets");
    offsets.elements().iter().map(|e| e.offset()).collect()
}

fn produce(bootstrap: &str, replay: &Path) {
    let replay = replay.to_str().expect("path");
    crate::support::tickflow(&["produce", "--brokers", bootstrap, "--partitions", "3", "--replay", replay]);
}

#[test]
fn a_full_archive_disk_stops_commits_loses_nothing_and_resumes_when_space_returns() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = SmallDisk::mount(dir.path(), "8m");
    let (first_csv, second_csv) = (dir.path().join("first.csv"), dir.path().join("second.csv"));
    let first = real_window(&first_csv, FROM_MS, FROM_MS + 5 * MINUTE_MS);
    let second = real_window(&second_csv, FROM_MS + 5 * MINUTE_MS, FROM_MS + 10 * MINUTE_MS);
    produce(&bootstrap, &first_csv);

    let archive = disk.0.join("archive");
    let out = archive.to_str().expect("path").to_owned();
    let args: Vec<String> = ["archive", "--brokers", &bootstrap, "--out", &out, "--roll-trades", "1000"]
        .into_iter()
        .chain(["--roll-interval", "200ms"])
        .map(str::to_owned)
        .collect();
    let mut archiver = Service::tickflow("archive", &args, &[]);
    wait_for("the first window archived", &mut [&mut archiver], || archived_trades(&archive).len() == first.len());

    let filler = disk.0.join("filler");
    fill(&filler);
    produce(&bootstrap, &second_csv);
    archiver.wait_for_log("the disk-full line", |log| log.contains(FULL_LINE).then_some(()));
    let first_window = Offset::Offset(first.len() as i64);
    let committed_sum = || {
        let offsets = committed(&bootstrap).into_iter().map(|o| match o {
            Offset::Offset(next) => next,
            _ => 0,
        });
        Offset::Offset(offsets.sum())
    };
    assert_eq!(committed_sum(), first_window, "the committed offsets cover the first window");
    std::thread::sleep(Duration::from_secs(3));
    archiver.assert_running();
    assert_eq!(committed_sum(), first_window, "no offset is committed while the disk is full");
    assert_eq!(archived_trades(&archive).len(), first.len(), "nothing of the second window is visible yet");

    std::fs::remove_file(&filler).expect("free the space");
    let freed = Instant::now();
    let total = first.len() + second.len();
    wait_for("the second window archived", &mut [&mut archiver], || archived_trades(&archive).len() >= total);
    eprintln!("archiving resumed {:?} after the space returned", freed.elapsed());
    let log = archiver.log();
    let full_lines: Vec<&str> = log.lines().filter(|l| l.contains(FULL_LINE)).collect();
    assert_eq!(full_lines.len(), 1, "one line says why, once:\n{log}");
    let resumed =
        log.lines().find(|l| l.contains("has space again")).unwrap_or_else(|| panic!("no resume line:\n{log}"));
    eprintln!("{}\n{resumed}", full_lines[0]);
    assert!(archiver.terminate().success(), "archive:\n{log}");

    let unfinished = std::fs::read_dir(&archive)
        .expect("archive")
        .flat_map(|day| std::fs::read_dir(day.expect("entry").path()).into_iter().flatten())
        .filter(|f| f.as_ref().expect("entry").file_name().to_string_lossy().ends_with(".inprogress"))
        .count();
    assert_eq!(unfinished, 0, "no unfinished file is left behind");
    assert_archived_once(&archive, &[&first, &second]);
}
