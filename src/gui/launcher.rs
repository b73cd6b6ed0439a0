//! Launching runs from the app without touching the disk on the UI thread: a worker thread takes configs (or
//! run folders to resume), calls [`Engine::launch`] / [`Engine::resume`] (validation, device probe, run folder)
//! and hands back the live [`RunHandle`] or the error. The app keeps the handles to pause, resume and stop
//! its runs, and drains their event channels.

use crate::config::ExperimentConfig;
use crate::engine::{Engine, RunHandle};
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::path::PathBuf;

/// What the worker is asked to start.
pub enum Request {
    Launch(ExperimentConfig),
    /// Continue a stopped, failed or crashed run from its newest checkpoint.
    Resume(PathBuf),
}

/// What the worker answers to one launch.
pub enum Launched {
    Run(RunHandle),
    Failed { name: String, device: String, error: String },
}

pub struct Launcher {
    requests: Sender<Request>,
    pub replies: Receiver<Launched>,
}

impl Launcher {
    /// Starts the worker; `wake` is called after each reply (to repaint the UI).
    pub fn spawn(wake: impl Fn() + Send + 'static) -> Self {
        let (requests, rx) = unbounded::<Request>();
        let (tx, replies) = unbounded();
        let _ = std::thread::Builder::new()
            .name("adaptsv-launcher".into())
            .spawn(move || {
                for request in rx.iter() {
                    let (name, device, started) = match request {
                        Request::Launch(config) => (config.name.clone(), config.device.clone(), Engine::launch(config)),
                        Request::Resume(dir) => {
                            let device = crate::runs::load_config(&dir).0.map(|c| c.device).unwrap_or_default();
                            (dir.display().to_string(), device, Engine::resume(&dir))
                        }
                    };
                    let reply = match started {
                        Ok(handle) => Launched::Run(handle),
                        Err(e) => Launched::Failed {
                            name,
                            device,
                            error: e.to_string(),
                        },
                    };
                    if tx.send(reply).is_err() {
                        break;
                    }
                    wake();
                }
            });
        Self { requests, replies }
    }

    pub fn start(&self, request: Request) {
        let _ = self.requests.send(request);
    }
}
