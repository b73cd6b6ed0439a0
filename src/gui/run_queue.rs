//! The run queue: launches wait here until their device is free, so one run trains on a device at a time and
//! the others start in turn. Pure state (no thread, no disk): the app asks which entries may start given the
//! devices that are busy, and hands those to the launcher.

use super::launcher::Request;
use std::collections::BTreeSet;

/// A launch waiting for its device.
pub struct QueuedRun {
    pub ticket: u64,
    /// The experiment's name, or the folder of a run to continue.
    pub name: String,
    /// The device as configured (`cpu`, `cuda:0`).
    pub device: String,
    pub request: Request,
}

#[derive(Default)]
pub struct RunQueue {
    next_ticket: u64,
    pub entries: Vec<QueuedRun>,
}

impl RunQueue {
    /// Appends a launch; returns its ticket.
    pub fn push(&mut self, name: String, device: String, request: Request) -> u64 {
        self.next_ticket += 1;
        self.entries.push(QueuedRun {
            ticket: self.next_ticket,
            name,
            device,
            request,
        });
        self.next_ticket
    }

    /// Removes a queued launch (before it started); false if it is not queued.
    pub fn remove(&mut self, ticket: u64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.ticket != ticket);
        self.entries.len() != before
    }

    /// Takes the first queued launch of every device not in `busy`, in queue order.
    pub fn take_startable(&mut self, busy: &BTreeSet<String>) -> Vec<QueuedRun> {
        let mut claimed: BTreeSet<String> = busy.clone();
        let mut start = Vec::new();
        let mut keep = Vec::new();
        for e in self.entries.drain(..) {
            if claimed.contains(&e.device) {
                keep.push(e);
            } else {
                claimed.insert(e.device.clone());
                start.push(e);
            }
        }
        self.entries = keep;
        start
    }

    /// Position (1-based) of each entry within its device's queue.
    pub fn position(&self, ticket: u64) -> Option<usize> {
        let e = self.entries.iter().find(|e| e.ticket == ticket)?;
        Some(
            self.entries
                .iter()
                .filter(|o| o.device == e.device)
                .position(|o| o.ticket == ticket)?
                + 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn req(n: &str) -> Request {
        Request::Resume(PathBuf::from(n))
    }

    #[test]
    fn one_run_per_device_in_queue_order() {
        let mut q = RunQueue::default();
        let a = q.push("a".into(), "cpu".into(), req("a"));
        let b = q.push("b".into(), "cpu".into(), req("b"));
        let c = q.push("c".into(), "cuda:0".into(), req("c"));
        assert_eq!(q.position(b), Some(2));
        assert_eq!(q.position(c), Some(1));
        let busy: BTreeSet<String> = ["cuda:0".to_string()].into();
        let started: Vec<u64> = q.take_startable(&busy).iter().map(|e| e.ticket).collect();
        assert_eq!(started, vec![a]);
        // cpu is busy now with a; nothing else may start there.
        let busy: BTreeSet<String> = ["cpu".to_string()].into();
        let started: Vec<u64> = q.take_startable(&busy).iter().map(|e| e.ticket).collect();
        assert_eq!(started, vec![c]);
        assert!(q.remove(b));
        assert!(!q.remove(b));
        assert!(q.entries.is_empty());
    }
}
