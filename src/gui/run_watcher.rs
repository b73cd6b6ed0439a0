//! A background thread that follows run folders and sends the GUI what changed, so the window never waits on
//! the disk. Each poll lists the watched roots (plus single run folders opened by hand), reads only the bytes
//! appended to each `metrics.jsonl` since the last poll ([`MetricsTail`]), checks each run's lock and re-reads
//! `summary.json` only when it changed. It polls every second (runs on a shared filesystem change under us
//! too) and on request; it ends by itself when the GUI drops its receiver.

use crate::config::ExperimentConfig;
use crate::runs::{
    decide_status, is_run_dir, load_config, read_summary_file, Damage, EventRecord, MetricsTail, RunStatus, StatusFacts, Summary,
    Notes, METRICS_FILE, NOTES_FILE, SUMMARY_FILE,
};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const POLL: Duration = Duration::from_secs(1);

/// What the GUI asks of the watcher.
pub enum WatchRequest {
    /// Poll now.
    Refresh,
    /// Also watch every run folder under this folder.
    AddRoot(PathBuf),
    /// Also watch this one run folder.
    AddRun(PathBuf),
}

/// What the watcher tells the GUI.
pub enum WatchMsg {
    /// The run folders watched now, in order (folder names start with a UTC timestamp); runs not listed are
    /// gone. `errors` names roots that cannot be read.
    Listing {
        dirs: Vec<PathBuf>,
        errors: Vec<String>,
        /// This machine's host name (runs of other hosts never make a local device busy).
        host: String,
    },
    /// What changed in one run folder.
    Run(Box<RunDelta>),
}

/// Changes of one run folder since the last message about it.
pub struct RunDelta {
    pub dir: PathBuf,
    /// The parsed `config.toml`: set the first time a run is seen (`Some(None)` if it does not parse).
    pub config: Option<Option<ExperimentConfig>>,
    /// The events read before are void (the file was replaced); `records` start again at line 0.
    pub reset: bool,
    /// New events with their line numbers.
    pub records: Vec<(usize, EventRecord)>,
    /// Lines read so far.
    pub lines: usize,
    pub status: RunStatus,
    /// `summary.json`, when it was (re)read.
    pub summary_file: Option<Summary>,
    /// The run's tags and note (`notes.jsonl`), when they were (re)read.
    pub notes: Option<Notes>,
    /// Newly found damage.
    pub damage: Vec<Damage>,
}

/// The GUI's end of the watcher.
pub struct RunWatcher {
    pub messages: Receiver<WatchMsg>,
    requests: Sender<WatchRequest>,
}

/// What the watcher keeps per run folder.
struct Tracked {
    tail: MetricsTail,
    facts: StatusFacts,
    status: Option<RunStatus>,
    summary_mtime: Option<SystemTime>,
    /// Length and time of `notes.jsonl` when last read.
    notes_stamp: Option<(u64, SystemTime)>,
    partial_reported: bool,
}

impl RunWatcher {
    pub fn spawn(root: PathBuf, repaint: impl Fn() + Send + 'static) -> Self {
        let (tx, messages) = unbounded();
        let (requests, rx) = unbounded::<WatchRequest>();
        std::thread::Builder::new()
            .name("run-watcher".into())
            .spawn(move || watch(vec![root], rx, tx, repaint))
            .expect("spawning a thread succeeds");
        Self { messages, requests }
    }

    /// Asks for a poll now.
    pub fn refresh(&self) {
        let _ = self.requests.send(WatchRequest::Refresh);
    }

    pub fn request(&self, request: WatchRequest) {
        let _ = self.requests.send(request);
    }
}

/// Whether `paths` already holds `p`, however spelled (`experiments/runs` and its absolute path are one folder: two
/// spellings would list every run in it twice).
fn holds(paths: &[PathBuf], p: &Path) -> bool {
    let canonical = p.canonicalize().ok();
    paths.iter().any(|a| a == p || (canonical.is_some() && a.canonicalize().ok() == canonical))
}

fn watch(
    mut roots: Vec<PathBuf>,
    requests: Receiver<WatchRequest>,
    tx: Sender<WatchMsg>,
    repaint: impl Fn(),
) {
    let host = crate::runs::local_host();
    let mut singles: Vec<PathBuf> = Vec::new();
    let mut tracked: BTreeMap<PathBuf, Tracked> = BTreeMap::new();
    loop {
        let mut errors = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for root in &roots {
            match std::fs::read_dir(root) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| p.is_dir() && is_run_dir(p))
                        .collect();
                    found.sort();
                    dirs.extend(found);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errors.push(format!("{}: {e}", root.display())),
            }
        }
        dirs.extend(singles.iter().filter(|d| is_run_dir(d)).cloned());
        dirs.dedup();
        tracked.retain(|d, _| dirs.contains(d));
        if tx
            .send(WatchMsg::Listing {
                dirs: dirs.clone(),
                errors,
                host: host.clone(),
            })
            .is_err()
        {
            return;
        }
        for dir in &dirs {
            let first = !tracked.contains_key(dir);
            let t = tracked.entry(dir.clone()).or_insert_with(|| Tracked {
                tail: MetricsTail::new(dir.join(METRICS_FILE)),
                facts: StatusFacts::default(),
                status: None,
                summary_mtime: None,
                notes_stamp: None,
                partial_reported: false,
            });
            if let Some(delta) = poll_run(dir, t, first) {
                if tx.send(WatchMsg::Run(Box::new(delta))).is_err() {
                    return;
                }
            }
        }
        repaint();
        let mut next = match requests.recv_timeout(POLL) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Take every pending request before polling again.
        while let Some(request) = next {
            match request {
                WatchRequest::Refresh => {}
                WatchRequest::AddRoot(p) if !holds(&roots, &p) => roots.push(p),
                WatchRequest::AddRun(p) if !holds(&singles, &p) => singles.push(p),
                WatchRequest::AddRoot(_) | WatchRequest::AddRun(_) => {}
            }
            next = requests.try_recv().ok();
        }
    }
}

/// Reads what changed in one run folder; `None` when nothing did.
fn poll_run(dir: &Path, t: &mut Tracked, first: bool) -> Option<RunDelta> {
    let mut damage = Vec::new();
    let config = first.then(|| {
        let (config, d) = load_config(dir);
        damage.extend(d);
        config
    });
    let chunk = match t.tail.poll() {
        Ok(c) => c,
        Err(e) => {
            damage.push(Damage {
                file: t.tail.path().to_path_buf(),
                line: None,
                message: e.to_string(),
            });
            Default::default()
        }
    };
    if chunk.reset {
        t.facts = StatusFacts::default();
        t.partial_reported = false;
    }
    for (_, r) in &chunk.records {
        t.facts.update(r);
    }
    damage.extend(chunk.damage.iter().cloned());
    let status = decide_status(dir, &t.facts);
    if status != RunStatus::Running && t.tail.has_partial_line() && !t.partial_reported {
        t.partial_reported = true;
        damage.push(Damage {
            file: t.tail.path().to_path_buf(),
            line: Some(chunk.lines + 1),
            message: "truncated last line (the run was probably killed while writing)".into(),
        });
    }
    let mut summary_file = None;
    if status != RunStatus::Running {
        let mtime = std::fs::metadata(dir.join(SUMMARY_FILE)).and_then(|m| m.modified()).ok();
        if mtime.is_some() && mtime != t.summary_mtime {
            t.summary_mtime = mtime;
            match read_summary_file(dir) {
                Ok(s) => summary_file = s,
                Err(d) => damage.push(d),
            }
        }
    } else {
        // A resumed run's old summary is removed; a new one will be read when it ends.
        t.summary_mtime = None;
    }
    let stamp = std::fs::metadata(dir.join(NOTES_FILE)).ok().and_then(|m| Some((m.len(), m.modified().ok()?)));
    let notes = (stamp != t.notes_stamp).then(|| {
        t.notes_stamp = stamp;
        let (notes, d) = crate::runs::notes::read(dir);
        damage.extend(d);
        notes
    });
    let changed = first
        || !chunk.is_empty()
        || t.status != Some(status)
        || summary_file.is_some()
        || notes.is_some()
        || !damage.is_empty();
    t.status = Some(status);
    changed.then(|| RunDelta {
        dir: dir.to_path_buf(),
        config,
        reset: chunk.reset,
        records: chunk.records,
        lines: chunk.lines,
        status,
        summary_file,
        notes,
        damage,
    })
}
