//! Following a growing `metrics.jsonl`: each poll reads only the bytes appended since the last one and parses
//! the complete lines among them, so watching a run with 100k steps costs what its new events cost, not a
//! re-parse of the whole file every two seconds.
//!
//! Every line gets its 0-based line number, including lines that do not parse (reported as [`Damage`]); a
//! reader that also receives the same run's events from another source (the engine's channel) merges the two
//! by line number. A file that shrinks (replaced, or copied over from a server) starts again from line 0.

use super::events::EventRecord;
use super::store::Damage;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The reading position in one `metrics.jsonl`.
#[derive(Debug)]
pub struct MetricsTail {
    path: PathBuf,
    /// Bytes consumed (up to the end of the last complete line, plus `partial`).
    offset: u64,
    /// Bytes after the last newline: a line still being written.
    partial: Vec<u8>,
    /// Complete lines consumed so far.
    lines: usize,
}

/// What one poll found.
#[derive(Debug, Default)]
pub struct TailChunk {
    /// Each new record with its 0-based line number.
    pub records: Vec<(usize, EventRecord)>,
    /// New lines that do not parse.
    pub damage: Vec<Damage>,
    /// Complete lines read so far: the next line's number.
    pub lines: usize,
    /// The file got shorter than what was read: everything read before is void and `records` start at line 0.
    pub reset: bool,
}

impl TailChunk {
    /// Whether the poll found anything new.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.damage.is_empty() && !self.reset
    }
}

impl MetricsTail {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            offset: 0,
            partial: Vec::new(),
            lines: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an incomplete last line is pending (a writer mid-line, or a process killed while writing).
    pub fn has_partial_line(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Reads what was appended since the last poll. A missing file is an empty chunk (the run has not written
    /// its first event yet).
    pub fn poll(&mut self) -> std::io::Result<TailChunk> {
        let mut chunk = TailChunk::default();
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                chunk.lines = self.lines;
                return Ok(chunk);
            }
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            *self = Self::new(self.path.clone());
            chunk.reset = true;
        }
        if len > self.offset {
            file.seek(SeekFrom::Start(self.offset))?;
            let mut bytes = Vec::with_capacity((len - self.offset) as usize);
            file.take(len - self.offset).read_to_end(&mut bytes)?;
            self.offset += bytes.len() as u64;
            self.partial.extend_from_slice(&bytes);
            let Some(last_newline) = self.partial.iter().rposition(|&b| b == b'\n') else {
                chunk.lines = self.lines;
                return Ok(chunk);
            };
            let rest = self.partial.split_off(last_newline + 1);
            let complete = std::mem::replace(&mut self.partial, rest);
            // `complete` ends with a newline: without it, `split` yields exactly its lines.
            for line in complete[..complete.len() - 1].split(|&b| b == b'\n') {
                let number = self.lines;
                self.lines += 1;
                let text = String::from_utf8_lossy(line);
                if text.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<EventRecord>(&text) {
                    Ok(rec) => chunk.records.push((number, rec)),
                    Err(e) => chunk.damage.push(Damage {
                        file: self.path.clone(),
                        line: Some(number + 1),
                        message: format!("unreadable event: {e}"),
                    }),
                }
            }
        }
        chunk.lines = self.lines;
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::RunEvent;
    use std::io::Write;

    fn line(step: u64) -> String {
        let rec = EventRecord {
            t: step as f64,
            utc: "2026-12-03T00:00:00Z".into(),
            event: RunEvent::Log {
                level: crate::runs::LogLevel::Info,
                message: format!("step {step}"),
            },
        };
        format!("{}\n", serde_json::to_string(&rec).unwrap())
    }

    #[test]
    fn reads_only_new_complete_lines_and_numbers_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut tail = MetricsTail::new(&path);
        assert!(tail.poll().unwrap().is_empty(), "a missing file is nothing yet");

        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(line(0).as_bytes()).unwrap();
        let second = line(1);
        let (head, rest) = second.split_at(10);
        f.write_all(head.as_bytes()).unwrap();
        f.flush().unwrap();
        let c = tail.poll().unwrap();
        assert_eq!(c.records.len(), 1);
        assert_eq!(c.records[0].0, 0);
        assert_eq!(c.lines, 1);
        assert!(tail.has_partial_line());

        f.write_all(rest.as_bytes()).unwrap();
        f.write_all(b"{not json\n").unwrap();
        f.write_all(line(3).as_bytes()).unwrap();
        f.flush().unwrap();
        let c = tail.poll().unwrap();
        let numbers: Vec<usize> = c.records.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, vec![1, 3]);
        assert_eq!(c.damage.len(), 1);
        assert_eq!(c.damage[0].line, Some(3), "1-based line of the bad one");
        assert_eq!(c.lines, 4);
        assert!(!tail.has_partial_line());
        assert!(tail.poll().unwrap().is_empty(), "nothing new");
    }

    #[test]
    fn a_shorter_file_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, line(0) + &line(1) + &line(2)).unwrap();
        let mut tail = MetricsTail::new(&path);
        assert_eq!(tail.poll().unwrap().records.len(), 3);
        std::fs::write(&path, line(7)).unwrap();
        let c = tail.poll().unwrap();
        assert!(c.reset);
        assert_eq!(c.records.len(), 1);
        assert_eq!(c.records[0].0, 0);
    }
}
