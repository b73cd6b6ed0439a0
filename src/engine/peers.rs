//! The peers of a run: one thread per device of this node, each holding its [`Replica`] (model and optimiser),
//! talking with the run thread only through channels. With more than one peer in all, their gradients are averaged
//! by Burn's collective all-reduce (`burn_collective`: peers in this process meet at its local server; nodes meet
//! at the global orchestrator, which node 0 starts, over websockets).
//!
//! ```text
//! run thread ──Work::Micro(shard) ×accum, Work::Step(order)──▶ peer i (thread "adaptsv-peer-i-<run>")
//!            ◀──(i, Reply::Stepped(PeerStep))──────────────────  forward/backward, all-reduce, update
//!            ──Work::Save / Evaluate / LayerWeights / Finish──▶ peer 0 only
//! ```
//!
//! A peer that fails (an error, a panic) says so and ends; the run thread then releases the others from the
//! all-reduce (`reset_collective`) and ends the run as `failed`, naming the peer. A step that does not come back
//! within `parallel.timeout_seconds` ends it the same way, naming the peers that did not answer. CPU peers each run
//! in a rayon pool of their thread share, so two peers do not fight over one pool.

use super::job::{Evaluation, PeerStep, Replica, StepOrder};
use super::train_state::StepFiles;
use super::EngineError;
use crate::config::ValidConfig;
use burn::tensor::backend::AutodiffBackend;
use burn_collective::{CollectiveConfig, PeerId};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Burn's collective server is one per process and backend: one data-parallel run at a time per process.
static COLLECTIVE: Mutex<()> = Mutex::new(());

/// How a peer's failure message starts when it was a panic.
const PANICKED: &str = "panicked: ";

/// Where this process stands in the run: its devices, the nodes, its rank.
#[derive(Debug, Clone)]
pub(super) struct Topology {
    /// This node's devices as configured, one peer each.
    pub labels: Vec<String>,
    pub nodes: u32,
    pub rank: u32,
    /// Threads of each CPU peer's pool (0: no pool of its own, the process's).
    pub cpu_threads: usize,
    pub timeout: Duration,
    /// The orchestrator's `host:port` (several nodes only).
    pub orchestrator: Option<(String, u16)>,
    /// The port this node serves its tensors on (several nodes only).
    pub data_port: u16,
}

impl Topology {
    pub(super) fn of(config: &ValidConfig, options: &super::live::LaunchOptions) -> Result<Self, EngineError> {
        let par = config.parallel.clone().unwrap_or_default();
        let labels = config.peer_devices();
        let nodes = par.nodes;
        let rank = node_rank(config, options.node_rank)?;
        let cpu = labels.iter().all(|d| d.trim() == "cpu");
        let cpu_threads = if cpu && labels.len() > 1 {
            match par.cpu_threads {
                0 => (crate::device::cpu_threads() / labels.len()).max(1),
                n => n,
            }
        } else {
            0
        };
        let orchestrator = if nodes > 1 {
            let text = if par.orchestrator.is_empty() {
                std::env::var("ADAPTSV_ORCHESTRATOR").unwrap_or_default()
            } else {
                par.orchestrator.clone()
            };
            Some(if text.is_empty() {
                ("127.0.0.1".to_string(), par.port)
            } else {
                parse_host_port(&text).ok_or_else(|| {
                    EngineError::Config(format!("parallel.orchestrator = {text:?}: must be host:port"))
                })?
            })
        } else {
            None
        };
        let data_port = par.port.saturating_add(1 + rank as u16);
        Ok(Self {
            labels,
            nodes,
            rank,
            cpu_threads,
            timeout: peer_timeout(config),
            orchestrator,
            data_port,
        })
    }

    /// Peers over all nodes.
    pub(super) fn peers(&self) -> usize {
        self.labels.len() * self.nodes as usize
    }

    /// This node's shards of a batch cut for all peers.
    pub(super) fn local_shards<S>(&self, shards: Vec<S>) -> Vec<S> {
        let local = self.labels.len();
        let first = self.rank as usize * local;
        shards.into_iter().skip(first).take(local).collect()
    }

    /// Whether this process writes the run folder (node 0).
    pub(super) fn writes(&self) -> bool {
        self.rank == 0
    }

    /// The device part of the `started` event: the device alone for one peer.
    pub(super) fn describe(&self) -> String {
        if self.peers() == 1 {
            return self.labels[0].clone();
        }
        let mut text = if self.labels.iter().all(|l| l == &self.labels[0]) {
            format!("{} ×{}", self.labels[0], self.labels.len())
        } else {
            self.labels.join(", ")
        };
        if self.cpu_threads > 0 {
            let s = if self.cpu_threads == 1 { "" } else { "s" };
            text.push_str(&format!(" ({} thread{s} each)", self.cpu_threads));
        }
        if self.nodes > 1 {
            text.push_str(&format!(" on each of {} nodes", self.nodes));
        }
        text
    }

    /// The run's first log line about its peers.
    pub(super) fn summary(&self, config: &ValidConfig) -> String {
        format!(
            "data-parallel: {} peers ({}){}; global batch {} = {} per peer; gradients averaged over the peers \
             (Burn collective all-reduce) before each optimiser step",
            self.peers(),
            self.describe(),
            if self.nodes > 1 { format!(", this is node {}", self.rank) } else { String::new() },
            config.optim.batch_size,
            config.per_peer_batch()
        )
    }
}

/// How long a step (or a node's wait for node 0's data) may take: `parallel.timeout_seconds`.
pub(super) fn peer_timeout(config: &ValidConfig) -> Duration {
    Duration::from_secs(config.parallel.as_ref().map_or(900, |p| p.timeout_seconds))
}

/// `host:port` → (host, port).
pub fn parse_host_port(text: &str) -> Option<(String, u16)> {
    let text = text.trim().trim_start_matches("ws://");
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty() && !host.contains(char::is_whitespace)).then(|| (host.to_string(), port))
}

/// This process's node rank: given, else `SLURM_PROCID` / `SLURM_NODEID` for a run over several nodes, else 0.
pub(super) fn node_rank(config: &ValidConfig, given: Option<u32>) -> Result<u32, EngineError> {
    let nodes = config.parallel.as_ref().map_or(1, |p| p.nodes);
    let rank = match given {
        Some(r) => r,
        None if nodes > 1 => ["SLURM_PROCID", "SLURM_NODEID"]
            .iter()
            .find_map(|k| std::env::var(k).ok()?.trim().parse().ok())
            .unwrap_or(0),
        None => 0,
    };
    if rank >= nodes {
        return Err(EngineError::Config(format!(
            "node rank {rank} is not below parallel.nodes = {nodes}"
        )));
    }
    Ok(rank)
}

/// What the run thread asks of a peer.
enum Work<S> {
    Micro(S),
    Step(StepOrder),
    LayerWeights,
    EpochNote(usize),
    Save(StepFiles, u64),
    Evaluate(u64, f64),
    Finish(String, u64),
}

/// A peer's answer.
enum Reply {
    Stepped(PeerStep),
    LayerWeights(Vec<f64>),
    EpochNote(Option<String>),
    Saved(u64, u64),
    Evaluated(Option<Evaluation>),
    Finished(Vec<String>),
    /// The peer failed and has ended: why.
    Failed(String),
}

/// The running peers of this node.
pub(super) struct Peers<S> {
    work: Vec<Sender<Work<S>>>,
    replies: Receiver<(usize, Reply)>,
    threads: Vec<JoinHandle<()>>,
    labels: Vec<String>,
    timeout: Duration,
    /// Releases peers waiting in the all-reduce (Burn's `reset_collective` for the run's backend).
    reset: fn(),
    nodes: u32,
    _lock: Option<MutexGuard<'static, ()>>,
}

impl<S: Send + 'static> Peers<S> {
    /// Starts one thread per replica (node 0 of several also starts the orchestrator), each registering with the
    /// collective when there is more than one peer in all.
    pub(super) fn start<R>(replicas: Vec<R>, topology: &Topology, run_id: &str) -> Result<Self, EngineError>
    where
        R: Replica<Shard = S>,
    {
        let collective = topology.peers() > 1;
        let lock = collective.then(|| COLLECTIVE.lock().unwrap_or_else(|p| p.into_inner()));
        let config = if collective { Some(collective_config(topology)?) } else { None };
        if topology.nodes > 1 {
            // Burn's websocket server installs a global log subscriber printing to stdout unless one is set.
            let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
        }
        if let (true, Some((_, port))) = (topology.rank == 0, &topology.orchestrator) {
            start_orchestrator(*port)?;
        }
        let (reply_tx, replies) = unbounded();
        let mut work = Vec::new();
        let mut threads = Vec::new();
        for (i, replica) in replicas.into_iter().enumerate() {
            let (tx, rx) = unbounded();
            work.push(tx);
            let link = config.clone().map(|c| {
                let id = PeerId::from(topology.rank as usize * topology.labels.len() + i);
                (id, c)
            });
            let replies = reply_tx.clone();
            let threads_each = topology.cpu_threads;
            let thread = std::thread::Builder::new()
                .name(format!("adaptsv-peer-{i}-{run_id}"))
                .spawn(move || peer_main(i, replica, link, rx, replies, threads_each))
                .map_err(|e| EngineError::Peer(format!("cannot start the thread of peer {i}: {e}")))?;
            threads.push(thread);
        }
        Ok(Self {
            work,
            replies,
            threads,
            labels: topology.labels.clone(),
            timeout: topology.timeout,
            reset: reset_for::<R>,
            nodes: topology.nodes,
            _lock: lock,
        })
    }

    /// Sends each peer its shard of one micro-batch (a failed peer's answer is read at the step).
    pub(super) fn micro(&self, shards: Vec<S>) -> Result<(), EngineError> {
        for (tx, shard) in self.work.iter().zip(shards) {
            let _ = tx.send(Work::Micro(shard));
        }
        Ok(())
    }

    /// Ends the step on every peer: every peer's figures in peer order (the same on all after the all-reduce but
    /// for their times).
    pub(super) fn step(&mut self, order: &StepOrder) -> Result<Vec<PeerStep>, EngineError> {
        for tx in &self.work {
            let _ = tx.send(Work::Step(order.clone()));
        }
        let deadline = Instant::now() + self.timeout;
        let mut answered: Vec<Option<PeerStep>> = vec![None; self.work.len()];
        while answered.iter().any(|a| a.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok((i, Reply::Stepped(read))) => answered[i] = Some(read),
                Ok((i, Reply::Failed(why))) => return Err(self.failed(i, order.step, why)),
                Ok((i, _)) => return Err(self.failed(i, order.step, "answered out of turn".into())),
                Err(RecvTimeoutError::Timeout) => {
                    let silent: Vec<String> = answered
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.is_none())
                        .map(|(i, _)| format!("peer {i} ({})", self.labels[i]))
                        .collect();
                    (self.reset)();
                    let remote = if self.nodes > 1 {
                        "; on a run over several nodes they may be waiting in the all-reduce for a peer of another \
                         node (see nodes/node-<rank>.log in the run folder)"
                    } else {
                        ""
                    };
                    return Err(EngineError::Peer(format!(
                        "step {}: {} did not answer within {} s (parallel.timeout_seconds){remote}; the last \
                         checkpoint is intact",
                        order.step,
                        silent.join(", "),
                        self.timeout.as_secs()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(EngineError::Peer("every peer thread has gone".into()));
                }
            }
        }
        Ok(answered.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// The devices of this node's peers, in peer order.
    pub(super) fn labels(&self) -> &[String] {
        &self.labels
    }

    /// A peer's failure as the run's error; the other peers are released from the all-reduce.
    fn failed(&self, i: usize, step: u64, why: String) -> EngineError {
        (self.reset)();
        if self.work.len() == 1 && self.nodes == 1 {
            // One peer: its failure is the run's, as it always read.
            return EngineError::Peer(match why.strip_prefix(PANICKED) {
                Some(what) => format!("the training thread panicked: {what}"),
                None => why,
            });
        }
        let remote = if self.nodes > 1 {
            "; on a run over several nodes a failed all-reduce usually means another node stopped (see \
             nodes/node-<rank>.log in the run folder)"
        } else {
            ""
        };
        EngineError::Peer(format!(
            "peer {i} ({}) failed at step {step}: {why}{remote}; the run stops with the last checkpoint intact",
            self.labels[i]
        ))
    }

    /// Asks peer 0 alone and waits for its answer (no timeout: saving and evaluating take what they take).
    fn ask_first(&mut self, work: Work<S>) -> Result<Reply, EngineError> {
        let _ = self.work[0].send(work);
        loop {
            match self.replies.recv() {
                Ok((0, Reply::Failed(why))) => return Err(self.failed(0, 0, why)),
                Ok((0, reply)) => return Ok(reply),
                Ok((i, Reply::Failed(why))) => return Err(self.failed(i, 0, why)),
                Ok(_) => {}
                Err(_) => return Err(EngineError::Peer("peer 0 has gone".into())),
            }
        }
    }

    pub(super) fn layer_weights(&mut self) -> Result<Vec<f64>, EngineError> {
        match self.ask_first(Work::LayerWeights)? {
            Reply::LayerWeights(w) => Ok(w),
            _ => Err(EngineError::Peer("peer 0 answered out of turn".into())),
        }
    }

    pub(super) fn epoch_note(&mut self, epoch: usize) -> Result<Option<String>, EngineError> {
        match self.ask_first(Work::EpochNote(epoch))? {
            Reply::EpochNote(n) => Ok(n),
            _ => Err(EngineError::Peer("peer 0 answered out of turn".into())),
        }
    }

    pub(super) fn save(&mut self, files: &StepFiles, step: u64) -> Result<(u64, u64), EngineError> {
        match self.ask_first(Work::Save(files.clone(), step))? {
            Reply::Saved(a, b) => Ok((a, b)),
            _ => Err(EngineError::Peer("peer 0 answered out of turn".into())),
        }
    }

    pub(super) fn evaluate(&mut self, step: u64, epoch: f64) -> Result<Option<Evaluation>, EngineError> {
        match self.ask_first(Work::Evaluate(step, epoch))? {
            Reply::Evaluated(e) => Ok(e),
            _ => Err(EngineError::Peer("peer 0 answered out of turn".into())),
        }
    }

    pub(super) fn finish(&mut self, run_id: &str, step: u64) -> Result<Vec<String>, EngineError> {
        match self.ask_first(Work::Finish(run_id.to_string(), step))? {
            Reply::Finished(lines) => Ok(lines),
            _ => Err(EngineError::Peer("peer 0 answered out of turn".into())),
        }
    }

    /// Ends the peers after a run that ended on its own terms: each leaves the collective, then its thread ends.
    pub(super) fn close(mut self) {
        self.work.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Ends the peers after a failure: those waiting in the all-reduce are released; none is waited for (a
    /// peer stuck on another node's answer would hold the run's end).
    pub(super) fn abort(mut self) {
        (self.reset)();
        self.work.clear();
        self.threads.clear();
    }
}

/// Releases the peers waiting in the all-reduce. Burn's reset panics when its server has already gone (a peer
/// across nodes broke it): there is then no one left to release.
fn reset_for<R: Replica>() {
    let _ = std::panic::catch_unwind(|| {
        burn_collective::reset_collective::<<R::Backend as AutodiffBackend>::InnerBackend>();
    });
}

/// The collective's settings for this node: its local peers and, over several nodes, where they meet.
fn collective_config(topology: &Topology) -> Result<CollectiveConfig, EngineError> {
    let mut config = CollectiveConfig::default().with_num_devices(topology.labels.len());
    if let Some((host, port)) = &topology.orchestrator {
        let address = |text: String| {
            text.parse::<burn_communication::Address>()
                .map_err(|e| EngineError::Config(format!("address {text}: {e}")))
        };
        let own_host = std::env::var("ADAPTSV_NODE_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| if host == "127.0.0.1" { host.clone() } else { crate::runs::local_host() });
        config = config
            .with_num_nodes(topology.nodes)
            .with_global_address(address(format!("ws://{host}:{port}"))?)
            .with_node_address(address(format!("ws://{own_host}:{}", topology.data_port))?)
            .with_data_service_port(topology.data_port);
    }
    Ok(config)
}

/// Starts Burn's global orchestrator on `port` in this process (node 0 of a run over several nodes), on a thread
/// with its own async runtime; it lives as long as the process.
fn start_orchestrator(port: u16) -> Result<(), EngineError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| EngineError::Peer(format!("cannot start the orchestrator's runtime: {e}")))?;
    std::thread::Builder::new()
        .name(format!("adaptsv-orchestrator-{port}"))
        .spawn(move || runtime.block_on(burn_collective::start_global_orchestrator(port)))
        .map_err(|e| EngineError::Peer(format!("cannot start the orchestrator's thread: {e}")))?;
    Ok(())
}

/// A peer's thread: registers with the collective, then does what it is sent until the run thread lets go.
fn peer_main<R: Replica>(
    index: usize,
    mut replica: R,
    link: Option<(PeerId, CollectiveConfig)>,
    work: Receiver<Work<R::Shard>>,
    replies: Sender<(usize, Reply)>,
    threads: usize,
) {
    let mut body = move || {
        if let Some((id, config)) = &link {
            let device = replica.device();
            if let Err(e) = burn_collective::register::<<R::Backend as AutodiffBackend>::InnerBackend>(
                *id,
                device,
                config.clone(),
            ) {
                let _ = replies.send((index, Reply::Failed(format!("cannot join the collective: {e:?}"))));
                return;
            }
        }
        let peer = link.as_ref().map(|(id, _)| *id);
        // Seconds in this step's micro-batches so far.
        let mut busy = 0.0;
        for job in work.iter() {
            let started = std::time::Instant::now();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(&mut replica, job, peer)));
            busy += started.elapsed().as_secs_f64();
            let reply = match result {
                Ok(Ok(None)) => continue,
                Ok(Ok(Some(Reply::Stepped(mut read)))) => {
                    read.compute_seconds = (busy - read.wait_seconds).max(0.0);
                    busy = 0.0;
                    Reply::Stepped(read)
                }
                Ok(Ok(Some(reply))) => reply,
                Ok(Err(e)) => Reply::Failed(e.to_string()),
                Err(payload) => {
                    let what = crate::device::panic_message(payload.as_ref()).unwrap_or_else(|| "no message".into());
                    Reply::Failed(format!("{PANICKED}{what}"))
                }
            };
            let failed = matches!(reply, Reply::Failed(_));
            let _ = replies.send((index, reply));
            if failed {
                return;
            }
        }
        if let Some(id) = peer {
            let _ = burn_collective::finish_collective::<<R::Backend as AutodiffBackend>::InnerBackend>(id);
        }
    };
    if threads == 0 {
        body();
        return;
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |t| format!("adaptsv-peer-{index}-cpu-{t}"))
        .build()
    {
        Ok(pool) => pool.install(body),
        Err(_) => body(),
    }
}

/// One piece of work on a replica; `None` for a micro-batch (answered at the step).
fn handle<R: Replica>(
    replica: &mut R,
    work: Work<R::Shard>,
    peer: Option<PeerId>,
) -> Result<Option<Reply>, EngineError> {
    Ok(Some(match work {
        Work::Micro(shard) => {
            replica.micro(shard)?;
            return Ok(None);
        }
        Work::Step(order) => Reply::Stepped(replica.step(&order, peer)?),
        Work::LayerWeights => Reply::LayerWeights(replica.layer_weights()),
        Work::EpochNote(epoch) => Reply::EpochNote(replica.epoch_note(epoch)),
        Work::Save(files, step) => {
            let (a, b) = replica.save(&files, step)?;
            Reply::Saved(a, b)
        }
        Work::Evaluate(step, epoch) => Reply::Evaluated(replica.evaluate(step, epoch)?),
        Work::Finish(id, step) => Reply::Finished(replica.finish(&id, step)?),
    }))
}
