//! Reading run folders back: listing, loading (damaged ones too), telling live runs from crashed ones, deleting.
//!
//! Loading never gives up on a folder because one part is damaged: a truncated last line of `metrics.jsonl`
//! (the usual result of a killed process), an unreadable `summary.json` or a config that no longer parses are
//! each reported as a [`Damage`] and the rest is still returned.

use super::events::{EventRecord, RunEvent};
use super::summary::{RunStatus, Summary};
use super::{local_host, RunError, CONFIG_FILE, LOCK_FILE, METRICS_FILE, SUMMARY_FILE};
use crate::config::ExperimentConfig;
use std::fs;
use std::path::{Path, PathBuf};

/// A run whose host is another machine counts as running while its last event is younger than this.
const REMOTE_STALE_SECS: i64 = 15 * 60;

/// Something unreadable in a run folder: which file, which line, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{} line {l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Everything readable in one run folder.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub id: String,
    pub dir: PathBuf,
    pub status: RunStatus,
    /// The config as saved, if it still parses.
    pub config: Option<ExperimentConfig>,
    pub events: Vec<EventRecord>,
    pub summary: Summary,
    /// Tags and note (`notes.jsonl`).
    pub notes: super::Notes,
    pub damage: Vec<Damage>,
}

impl LoadedRun {
    /// Whether `filter` shows this run (the app's filter: [`super::RunFilter`]).
    pub fn matches(&self, filter: &super::RunFilter) -> bool {
        filter.matches(&self.id, self.method(), self.status, &self.notes)
    }

    /// The adaptation method as written in the config (`adapters`, `lora`, …), `?` when the config is unreadable.
    pub fn method(&self) -> &'static str {
        match &self.config {
            Some(c) if c.pretrain.is_some() => "pretrain",
            Some(c) => c.adaptation.method.name(),
            None => "?",
        }
    }

    /// The latest evaluation on the run's own trial list that carries a DET curve: `(step, trial list, EER, [p_fa, p_miss] points)`.
    pub fn latest_det(&self) -> Option<(u64, &str, f64, &[[f64; 2]])> {
        self.events.iter().rev().find_map(|r| match &r.event {
            RunEvent::Eval {
                step,
                trials,
                eer,
                det,
                list: None,
                ..
            } if !det.is_empty() => Some((*step, trials.as_str(), *eer, det.as_slice())),
            _ => None,
        })
    }

    /// The config's name, or the folder name when the config is unreadable.
    pub fn name(&self) -> &str {
        self.config.as_ref().map(|c| c.name.as_str()).unwrap_or(&self.id)
    }
}

/// The folder holding run folders (by default `experiments/runs`).
#[derive(Debug, Clone)]
pub struct RunStore {
    root: PathBuf,
}

impl RunStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every run folder under the root, oldest first (folder names start with a UTC timestamp). A missing root
    /// is an empty list, not an error: no run has been launched yet.
    pub fn list(&self) -> Result<Vec<LoadedRun>, RunError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RunError::Io {
                    path: self.root.clone(),
                    source,
                })
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir() && (p.join(CONFIG_FILE).exists() || p.join(METRICS_FILE).exists()))
            .collect();
        dirs.sort();
        Ok(dirs.iter().map(|d| load_dir(d)).collect())
    }

    /// Loads the run folder `id` (its folder name).
    pub fn load(&self, id: &str) -> Result<LoadedRun, RunError> {
        let dir = self.run_dir(id)?;
        Ok(load_dir(&dir))
    }

    /// Deletes a run folder. A running run is refused: stop it first.
    pub fn delete(&self, id: &str) -> Result<(), RunError> {
        let dir = self.run_dir(id)?;
        if lock_held(&dir) {
            return Err(RunError::StillRunning(id.to_string()));
        }
        fs::remove_dir_all(&dir).map_err(|source| RunError::Io { path: dir, source })
    }

    fn run_dir(&self, id: &str) -> Result<PathBuf, RunError> {
        let ok = !id.is_empty() && !id.contains(['/', '\\']) && id != "." && id != "..";
        let dir = self.root.join(id);
        if ok && dir.is_dir() {
            Ok(dir)
        } else {
            Err(RunError::NoSuchRun {
                id: id.to_string(),
                root: self.root.clone(),
            })
        }
    }
}

/// Loads whatever is readable in a run folder.
pub fn load_dir(dir: &Path) -> LoadedRun {
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut damage = Vec::new();

    let (config, config_damage) = load_config(dir);
    damage.extend(config_damage);

    let (events, mut event_damage) = read_events(&dir.join(METRICS_FILE));
    damage.append(&mut event_damage);

    let status = decide_status(dir, &StatusFacts::from_events(&events));
    let derived = Summary::from_events(&id, status, &events);
    let summary = match read_summary_file(dir) {
        Ok(Some(s)) => Summary { status, ..s },
        Ok(None) => derived,
        Err(d) => {
            damage.push(d);
            derived
        }
    };
    let summary = if status == RunStatus::Running {
        // A live run has no end yet, whatever an earlier attempt wrote.
        Summary {
            message: String::new(),
            ended_utc: None,
            ..summary
        }
    } else {
        summary
    };

    let (notes, notes_damage) = super::notes::read(dir);
    damage.extend(notes_damage);

    LoadedRun {
        id,
        dir: dir.to_path_buf(),
        status,
        config,
        events,
        summary,
        notes,
        damage,
    }
}

/// Reads and parses a run folder's `config.toml` (not validated: an old run stays readable when the rules
/// tighten); what is wrong with it is returned as damage.
pub fn load_config(dir: &Path) -> (Option<ExperimentConfig>, Option<Damage>) {
    let config_path = dir.join(CONFIG_FILE);
    let damage = |message: String| Damage {
        file: config_path.clone(),
        line: None,
        message,
    };
    match fs::read_to_string(&config_path) {
        Ok(text) => match ExperimentConfig::parse_toml(&text, &config_path.display().to_string()) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(damage(e.to_string()))),
        },
        Err(e) => (None, Some(damage(e.to_string()))),
    }
}

/// Reads `summary.json`: `None` when there is none (a run still going, or one that crashed).
pub fn read_summary_file(dir: &Path) -> Result<Option<Summary>, Damage> {
    let path = dir.join(SUMMARY_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Summary>(&bytes).map(Some).map_err(|e| Damage {
            file: path,
            line: None,
            message: e.to_string(),
        }),
        Err(_) => Ok(None),
    }
}

/// Parses `metrics.jsonl` line by line, keeping every good record and reporting each bad line.
pub fn read_events(path: &Path) -> (Vec<EventRecord>, Vec<Damage>) {
    let mut damage = Vec::new();
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            damage.push(Damage {
                file: path.to_path_buf(),
                line: None,
                message: e.to_string(),
            });
            return (Vec::new(), damage);
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let ends_cleanly = text.is_empty() || text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut events = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<EventRecord>(line) {
            Ok(rec) => events.push(rec),
            Err(e) => {
                let last = i + 1 == lines.len();
                let message = if last && !ends_cleanly {
                    format!("truncated last line (the run was probably killed while writing): {e}")
                } else {
                    format!("unreadable event: {e}")
                };
                damage.push(Damage {
                    file: path.to_path_buf(),
                    line: Some(i + 1),
                    message,
                });
            }
        }
    }
    (events, damage)
}

/// What a run's status is decided from, besides its lock: facts folded from its events (kept up to date
/// incrementally by a watcher, or computed from all events at once by [`StatusFacts::from_events`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusFacts {
    /// The end event, if one was written and not followed by `resumed`.
    pub end: Option<super::events::EndStatus>,
    /// The host named by the `started` event.
    pub host: Option<String>,
    /// The wall-clock time of the last event.
    pub last_utc: Option<String>,
}

impl StatusFacts {
    pub fn from_events(events: &[EventRecord]) -> Self {
        let mut facts = Self::default();
        for r in events {
            facts.update(r);
        }
        facts
    }

    /// Folds one more event in.
    pub fn update(&mut self, r: &EventRecord) {
        match &r.event {
            RunEvent::Started { host, .. } if self.host.is_none() => self.host = Some(host.clone()),
            RunEvent::Ended { status, .. } => self.end = Some(*status),
            RunEvent::Resumed { .. } => self.end = None,
            _ => {}
        }
        self.last_utc = Some(r.utc.clone());
    }
}

/// A run with an end event has that status; otherwise it is running while its lock is held (or, for a run
/// from another host, while its last event is recent) and crashed after; a folder submitted to a scheduler that
/// has no event yet is queued.
pub fn decide_status(dir: &Path, facts: &StatusFacts) -> RunStatus {
    // A held lock means a live process writes the run, even if its last event is the end of an earlier attempt
    // (a resumed run, before it has written `resumed`).
    if lock_held(dir) {
        return RunStatus::Running;
    }
    if let Some(end) = facts.end {
        return end.into();
    }
    if facts.last_utc.is_none() && dir.join(super::JOB_FILE).is_file() {
        return RunStatus::Queued;
    }
    match &facts.host {
        Some(h) if *h != local_host() => {
            let last = facts.last_utc.as_deref().and_then(super::clock::parse_rfc3339);
            let now = super::clock::parse_rfc3339(&super::clock::Utc::now().rfc3339());
            match (last, now) {
                (Some(l), Some(n)) if n - l < REMOTE_STALE_SECS => RunStatus::Running,
                _ => RunStatus::Crashed,
            }
        }
        _ => RunStatus::Crashed,
    }
}

/// Whether a live process holds the run's lock.
fn lock_held(dir: &Path) -> bool {
    let Ok(f) = fs::File::open(dir.join(LOCK_FILE)) else {
        return false;
    };
    match f.try_lock_shared() {
        Ok(()) => false, // released when `f` drops
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}
