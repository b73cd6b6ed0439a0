//! A worker thread for a panel's disk work (reading a config, writing an export, encoding a PNG): the panel
//! submits closures and polls their answers each frame, so the UI thread never waits on a file.

use crossbeam_channel::{unbounded, Receiver, Sender};

type Job<T> = Box<dyn FnOnce() -> T + Send>;

pub struct Jobs<T> {
    jobs: Sender<Job<T>>,
    answers: Receiver<T>,
}

impl<T: Send + 'static> Jobs<T> {
    pub fn spawn(name: &str) -> Self {
        let (jobs, rx) = unbounded::<Job<T>>();
        let (tx, answers) = unbounded();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in rx.iter() {
                    if tx.send(job()).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning a thread succeeds");
        Self { jobs, answers }
    }

    /// Runs `job` on the worker; its answer comes back through [`Jobs::poll`].
    pub fn submit(&self, job: impl FnOnce() -> T + Send + 'static) {
        let _ = self.jobs.send(Box::new(job));
    }

    /// The next finished answer, if any.
    pub fn poll(&self) -> Option<T> {
        self.answers.try_recv().ok()
    }
}
