//! Writing one run folder while the run happens: config first, events appended and flushed one per line,
//! summary and checkpoints written atomically, and a lock held for the run's whole life.
//!
//! The lock (`run.lock`, an OS file lock) is what lets a reader tell a live run from a crashed one: the OS
//! releases it when the process dies, however it dies, so a folder whose events have no end and whose lock is
//! free belongs to a crashed run.

use super::clock::Utc;
use super::events::{EndStatus, EventRecord, LogLevel, RunEvent};
use super::fsutil::write_atomic;
use super::summary::{RunStatus, Summary};
use super::{
    RunError, CHECKPOINTS_DIR, CONFIG_FILE, LOCK_FILE, LOG_FILE, METRICS_FILE, NODES_DIR, SCORES_DIR, SUMMARY_FILE,
};
use crate::config::ExperimentConfig;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The open run folder of a live run. Dropping it without [`RunWriter::end`] leaves a crashed run behind.
pub struct RunWriter {
    id: String,
    dir: PathBuf,
    metrics: File,
    log: File,
    _lock: File,
    start: Instant,
    events: Vec<EventRecord>,
    /// Lines `metrics.jsonl` held when this writer opened it: the line number of its first event.
    first_line: usize,
    /// Set for a node other than 0 of a run over several nodes: its events go to `nodes/node-<rank>.jsonl`
    /// (and its log to `nodes/node-<rank>.log`); the run's own files and summary are node 0's.
    node: Option<u32>,
}

impl RunWriter {
    /// Creates `root/<UTC timestamp>-<name>/` with its subfolders and `config.toml`, and takes the run lock.
    pub fn create(root: &Path, config: &ExperimentConfig) -> Result<Self, RunError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RunError::Io { path, source }
        };
        let (id, dir) = make_folder(root, config)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.try_lock().map_err(|e| RunError::Io {
            path: lock_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let open_append = |name: &str| {
            let p = dir.join(name);
            OpenOptions::new().create(true).append(true).open(&p).map_err(io(&p))
        };
        Ok(Self {
            metrics: open_append(METRICS_FILE)?,
            log: open_append(LOG_FILE)?,
            id,
            dir,
            _lock: lock,
            start: Instant::now(),
            events: Vec::new(),
            first_line: 0,
            node: None,
        })
    }

    /// Creates the folder of a run that will start elsewhere or later (a Slurm job): `root/<UTC timestamp>-<name>/`
    /// with its subfolders, `config.toml` and an empty `metrics.jsonl`, no lock and no event;
    /// [`RunWriter::reopen`] starts it.
    pub fn prepare(root: &Path, config: &ExperimentConfig) -> Result<PathBuf, RunError> {
        let (_, dir) = make_folder(root, config)?;
        let metrics = dir.join(METRICS_FILE);
        File::create(&metrics).map_err(|source| RunError::Io { path: metrics, source })?;
        Ok(dir)
    }
}

/// Makes a new run folder under `root` (a free name: the timestamp, then `-2`, `-3`… within one second) with
/// its subfolders and `config.toml`. Returns its id and path.
fn make_folder(root: &Path, config: &ExperimentConfig) -> Result<(String, PathBuf), RunError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    fs::create_dir_all(root).map_err(io(root))?;
    let stamp = Utc::now().compact();
    // Only "already exists" moves on to the next name; any other error (read-only, full disk) is reported.
    let mut found = None;
    for n in 1..=1000 {
        let id = if n == 1 {
            format!("{stamp}-{}", config.name)
        } else {
            format!("{stamp}-{}-{n}", config.name)
        };
        let dir = root.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => {
                found = Some((id, dir));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(RunError::Io { path: dir, source }),
        }
    }
    let (id, dir) = found.ok_or_else(|| RunError::Io {
        path: root.to_path_buf(),
        source: std::io::Error::other("1000 run folders with this name and second already exist"),
    })?;
    for sub in [CHECKPOINTS_DIR, SCORES_DIR] {
        fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
    }
    let config_path = dir.join(CONFIG_FILE);
    write_atomic(&config_path, config.to_toml_string().as_bytes()).map_err(io(&config_path))?;
    Ok((id, dir))
}

impl RunWriter {
    /// Opens the existing run folder `dir` to continue it (resume after a stop or a crash): takes the lock (a run
    /// whose process still holds it is refused), keeps its events for the summary, and continues its clock. A
    /// last line cut off by a crash is ended first, so the next event starts on a line of its own.
    pub fn reopen(dir: &Path) -> Result<Self, RunError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RunError::Io { path, source }
        };
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(RunError::StillRunning(id));
        }
        let metrics_path = dir.join(METRICS_FILE);
        let (events, _) = super::store::read_events(&metrics_path);
        let mut metrics = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&metrics_path)
            .map_err(io(&metrics_path))?;
        // Only the last byte is needed (writes in append mode go to the end wherever the cursor is).
        let mut last = [b'\n'];
        if metrics.metadata().map_err(io(&metrics_path))?.len() > 0 {
            use std::io::{Read, Seek, SeekFrom};
            metrics
                .seek(SeekFrom::End(-1))
                .and_then(|_| metrics.read_exact(&mut last))
                .map_err(io(&metrics_path))?;
        }
        if last[0] != b'\n' {
            metrics.write_all(b"\n").map_err(io(&metrics_path))?;
        }
        let first_line = fs::read(&metrics_path)
            .map_err(io(&metrics_path))?
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        for sub in [CHECKPOINTS_DIR, SCORES_DIR] {
            fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
        }
        // The summary of the stop (or failure) is no longer true once the run goes on: readers derive it from
        // the events until the end writes a new one.
        let summary_path = dir.join(SUMMARY_FILE);
        match fs::remove_file(&summary_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RunError::Io {
                    path: summary_path,
                    source,
                })
            }
        }
        let log_path = dir.join(LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        // The clock goes on from the last event, so `t` never runs backwards within a run.
        let offset = events.last().map_or(0.0, |r| r.t.max(0.0));
        let start = Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(offset))
            .unwrap_or_else(Instant::now);
        Ok(Self {
            id,
            dir: dir.to_path_buf(),
            metrics,
            log,
            _lock: lock,
            start,
            events,
            first_line,
            node: None,
        })
    }

    /// Opens the run folder `dir` as node `rank` (> 0) of a run over several nodes sees it: node 0 writes the
    /// run's events, checkpoints and summary; this node writes its own events and log under `nodes/` and nothing
    /// else (a node's process that dies is named there).
    pub fn observe(dir: &Path, rank: u32) -> Result<Self, RunError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RunError::Io { path, source }
        };
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let nodes = dir.join(NODES_DIR);
        fs::create_dir_all(&nodes).map_err(io(&nodes))?;
        let open = |name: String| {
            let path = nodes.join(name);
            OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))
        };
        let lock = open(format!("node-{rank}.lock"))?;
        if lock.try_lock().is_err() {
            return Err(RunError::StillRunning(format!("{id} (node {rank})")));
        }
        Ok(Self {
            id,
            dir: dir.to_path_buf(),
            metrics: open(format!("node-{rank}.jsonl"))?,
            log: open(format!("node-{rank}.log"))?,
            _lock: lock,
            start: Instant::now(),
            events: Vec::new(),
            first_line: 0,
            node: Some(rank),
        })
    }

    /// The node rank this writer writes for, when it is not the run's own writer (node 0).
    pub fn node(&self) -> Option<u32> {
        self.node
    }

    /// The line number (0-based) in `metrics.jsonl` of the first event this writer emits: 0 for a new run, the
    /// lines already there for a reopened one. Readers that get events both from the channel and from the file
    /// merge them by line number.
    pub fn first_line(&self) -> usize {
        self.first_line
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.dir.join(CHECKPOINTS_DIR)
    }
    pub fn scores_dir(&self) -> PathBuf {
        self.dir.join(SCORES_DIR)
    }

    /// Stamps `event`, appends it to `metrics.jsonl` (flushed), mirrors logs to `log.txt`, and returns the record
    /// so the caller can also send it to the GUI.
    pub fn emit(&mut self, event: RunEvent) -> Result<EventRecord, RunError> {
        let rec = EventRecord {
            t: self.start.elapsed().as_secs_f64(),
            utc: Utc::now().rfc3339(),
            event,
        };
        let mut line = serde_json::to_string(&rec).expect("events are plain data");
        line.push('\n');
        let path = match self.node {
            Some(rank) => self.dir.join(NODES_DIR).join(format!("node-{rank}.jsonl")),
            None => self.dir.join(METRICS_FILE),
        };
        self.metrics
            .write_all(line.as_bytes())
            .and_then(|_| self.metrics.flush())
            .map_err(|source| RunError::Io { path, source })?;
        if let RunEvent::Log { level, message } = &rec.event {
            self.write_log(*level, message)?;
        }
        self.events.push(rec.clone());
        Ok(rec)
    }

    /// Shorthand for an info-level log event.
    pub fn log(&mut self, message: impl Into<String>) -> Result<EventRecord, RunError> {
        self.emit(RunEvent::Log {
            level: LogLevel::Info,
            message: message.into(),
        })
    }

    fn write_log(&mut self, level: LogLevel, message: &str) -> Result<(), RunError> {
        let tag = match level {
            LogLevel::Info => "info",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        };
        let line = format!(
            "{} [{:>8.1}s] {tag}: {message}\n",
            Utc::now().rfc3339(),
            self.start.elapsed().as_secs_f64()
        );
        let path = self.dir.join(LOG_FILE);
        self.log
            .write_all(line.as_bytes())
            .and_then(|_| self.log.flush())
            .map_err(|source| RunError::Io { path, source })
    }

    /// Writes a file inside the run folder atomically (checkpoints, score files); `rel` is relative to the folder.
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<PathBuf, RunError> {
        let path = self.dir.join(rel);
        write_atomic(&path, bytes).map_err(|source| RunError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The figures so far, as `summary.json` would hold them now.
    pub fn summary(&self, status: RunStatus) -> Summary {
        Summary::from_events(&self.id, status, &self.events)
    }

    /// Writes the end event and `summary.json`, then releases the lock.
    pub fn end(
        mut self,
        status: EndStatus,
        message: impl Into<String>,
        step: Option<u64>,
    ) -> Result<Summary, RunError> {
        self.finish(status, message, step).map(|(_, summary)| summary)
    }

    /// Writes the end event and `summary.json`; returns both. The lock is released when the writer drops.
    pub fn finish(
        &mut self,
        status: EndStatus,
        message: impl Into<String>,
        step: Option<u64>,
    ) -> Result<(EventRecord, Summary), RunError> {
        let rec = self.emit(RunEvent::Ended {
            status,
            message: message.into(),
            step,
        })?;
        let summary = self.summary(status.into());
        if self.node.is_none() {
            let bytes = serde_json::to_vec_pretty(&summary).expect("summary is plain data");
            self.write_file(SUMMARY_FILE, &bytes)?;
        }
        Ok((rec, summary))
    }
}

/// Adds an event to a run that is no longer running (e.g. an evaluation made afterwards with `adaptsv eval`),
/// and brings `summary.json` up to date if the run has one. A live run is refused: its own process writes it.
pub fn append_event(dir: &Path, event: RunEvent) -> Result<EventRecord, RunError> {
    let run = super::store::load_dir(dir);
    if run.status == RunStatus::Running {
        return Err(RunError::StillRunning(run.id));
    }
    let now = Utc::now().rfc3339();
    let started = run.events.first().and_then(|r| super::clock::parse_rfc3339(&r.utc));
    let t = match (started, super::clock::parse_rfc3339(&now)) {
        (Some(s), Some(n)) => (n - s) as f64,
        _ => run.events.last().map_or(0.0, |r| r.t),
    };
    let rec = EventRecord { t, utc: now, event };
    let path = dir.join(METRICS_FILE);
    let mut line = serde_json::to_string(&rec).expect("events are plain data");
    line.push('\n');
    let mut f = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|source| RunError::Io {
            path: path.clone(),
            source,
        })?;
    f.write_all(line.as_bytes())
        .and_then(|_| f.flush())
        .map_err(|source| RunError::Io { path, source })?;
    let summary_path = dir.join(SUMMARY_FILE);
    if summary_path.exists() {
        let mut events = run.events;
        events.push(rec.clone());
        let summary = Summary::from_events(&run.id, run.status, &events);
        let bytes = serde_json::to_vec_pretty(&summary).expect("summary is plain data");
        write_atomic(&summary_path, &bytes).map_err(|source| RunError::Io {
            path: summary_path,
            source,
        })?;
    }
    Ok(rec)
}
