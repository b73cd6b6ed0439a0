//! Data-parallel training with Burn's collective all-reduce, on CPU peers: two peers with their shards of each batch
//! give the losses, gradient norms and parameters of one peer with the whole batch (up to the order of float sums),
//! step by step; a two-peer run stops and resumes exactly; a peer that dies ends the run as `failed`, naming it,
//! within a bounded time and with the last checkpoint intact; two processes on this machine as two nodes (the
//! orchestrator on node 0, over loopback) train as one run.

use super::train::{run_to_end, tiny_config};
use adaptsv::config::{ExperimentConfig, HeadKind, OptimizerKind, ParallelConfig};
use adaptsv::engine::train_state::latest_complete;
use adaptsv::engine::{Engine, LaunchOptions};
use adaptsv::runs::{load_dir, EndStatus, RunEvent, RunStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Relative tolerance between one peer and two: the two sum their halves in another order (f32), so losses,
/// norms and parameters differ by rounding, which twelve steps let grow to ~1e-5 here.
const REL: f64 = 1e-3;

/// The tiny config with a head without BatchNorm (MHFA), so a shard's statistics do not differ from the batch's
/// (with BatchNorm each peer normalises its own shard, as PyTorch's DDP does without SyncBatchNorm), and SGD: AdamW
/// divides each gradient by its own running size, so a gradient that is pure rounding noise (MHFA's attention
/// bias, which softmax ignores) moves its parameter by ±lr on either side and no tolerance tells the two apart.
fn config(out: &Path) -> ExperimentConfig {
    let mut c = tiny_config(out);
    c.head.kind = HeadKind::Mhfa;
    c.optim.epochs = 2;
    c.optim.optimizer = OptimizerKind::Sgd;
    c.optim.lr_adapters = 0.05;
    c.optim.lr_head = 0.05;
    c
}

fn two_cpu_peers(c: &mut ExperimentConfig) {
    c.parallel = Some(ParallelConfig {
        devices: vec!["cpu".into(), "cpu".into()],
        cpu_threads: 1,
        ..Default::default()
    });
}

/// (step, loss, gradient norm) of every `step` event.
fn steps(dir: &Path) -> Vec<(u64, f64, f64)> {
    load_dir(dir)
        .events
        .into_iter()
        .filter_map(|r| match r.event {
            RunEvent::Step { step, loss, grad_norm, .. } => Some((step, loss, grad_norm.unwrap_or(f64::NAN))),
            _ => None,
        })
        .collect()
}

/// Every tensor of a safetensors file, by name, as f32 values.
fn values(path: &Path) -> BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let v = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, v)
        })
        .collect()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-3)
}

/// The losses and norms of two runs agree step by step, and their last checkpoints' parameters agree.
fn assert_same_training(one: &Path, two: &Path) {
    let (a, b) = (steps(one), steps(two));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len(), "step counts differ");
    for ((s, la, na), (_, lb, nb)) in a.iter().zip(&b) {
        assert!(close(*la, *lb, REL), "step {s}: loss {la} (one peer) vs {lb} (two peers)");
        assert!(close(*na, *nb, REL), "step {s}: gradient norm {na} (one peer) vs {nb} (two peers)");
    }
    let (sa, fa) = latest_complete(&one.join("checkpoints")).unwrap();
    let (sb, fb) = latest_complete(&two.join("checkpoints")).unwrap();
    assert_eq!(sa, sb);
    let (pa, pb) = (values(&fa.model), values(&fb.model));
    assert_eq!(pa.keys().collect::<Vec<_>>(), pb.keys().collect::<Vec<_>>());
    let mut worst = (0.0f64, String::new());
    for (name, va) in &pa {
        let vb = &pb[name];
        let scale = va.iter().map(|x| x.abs() as f64).fold(1e-3, f64::max);
        let diff = va.iter().zip(vb).map(|(x, y)| (x - y).abs() as f64).fold(0.0, f64::max) / scale;
        if diff > worst.0 {
            worst = (diff, name.clone());
        }
    }
    assert!(worst.0 <= REL, "parameters differ: {} by {:.2e} of its largest value", worst.1, worst.0);
}

#[test]
fn two_cpu_peers_train_as_one_peer_with_the_whole_batch_and_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let one = run_to_end(config(tmp.path()));
    let mut c = config(tmp.path());
    two_cpu_peers(&mut c);
    let two = run_to_end(c.clone());
    assert_same_training(&one, &two);
    let log = std::fs::read_to_string(two.join("log.txt")).unwrap();
    assert!(log.contains("data-parallel: 2 peers"), "{log}");

    // Stopped mid-epoch and resumed: the same parameters and optimiser state as the uninterrupted two-peer run.
    let handle = Engine::launch(c).unwrap();
    let dir = handle.dir.clone();
    for rec in handle.events().iter() {
        if let RunEvent::Step { step: 4, .. } = rec.event {
            handle.stop();
        }
    }
    let stopped = handle.join();
    assert_eq!(stopped.status, EndStatus::Stopped, "{}", stopped.message);
    let resumed = Engine::resume(&dir).unwrap().join();
    assert_eq!(resumed.status, EndStatus::Finished, "{}", resumed.message);
    let (_, whole) = latest_complete(&two.join("checkpoints")).unwrap();
    let (_, again) = latest_complete(&dir.join("checkpoints")).unwrap();
    assert_eq!(values(&whole.model), values(&again.model), "parameters differ after the resume");
    assert_eq!(values(&whole.optimizer), values(&again.optimizer), "optimiser state differs after the resume");
}

#[test]
fn a_peer_that_dies_ends_the_run_as_failed_naming_it_with_the_last_checkpoint_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path());
    two_cpu_peers(&mut c);
    c.optim.epochs = 3;
    let options = LaunchOptions {
        panic_at_step: Some(9), // in the second epoch, after the first epoch's checkpoint (6 steps per epoch)
        fault_peer: 1,
        ..Default::default()
    };
    let started = Instant::now();
    let handle = Engine::launch_with(c, options).unwrap();
    let dir = handle.dir.clone();
    let outcome = handle.join();
    assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());
    assert_eq!(outcome.status, EndStatus::Failed);
    assert!(outcome.message.contains("peer 1 (cpu) failed at step 9"), "{}", outcome.message);
    assert!(outcome.message.contains("fault injected"), "{}", outcome.message);
    assert_eq!(load_dir(&dir).status, RunStatus::Failed);
    let (step, files) = latest_complete(&dir.join("checkpoints")).expect("the first epoch's checkpoint");
    assert_eq!(step, 6);
    assert!(!values(&files.model).is_empty(), "the last checkpoint reads");
    // And it resumes from there.
    let resumed = Engine::resume(&dir).unwrap().join();
    assert_eq!(resumed.status, EndStatus::Finished, "{}", resumed.message);
}

/// A port nothing listens on now (and the next two, for the nodes' data services).
fn free_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        if port < 65000 && (1..=2).all(|i| std::net::TcpListener::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
}

fn node(dir: &Path, rank: u32) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["train", "--json", "--resume"])
        .arg(dir)
        .args(["--node-rank", &rank.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The run folder of `c`, prepared (queued) by `adaptsv train --prepare`.
fn prepared(c: &ExperimentConfig, tmp: &Path) -> PathBuf {
    let path = tmp.join(format!("{}.toml", c.name));
    std::fs::write(&path, toml::to_string(c).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["train", "--prepare", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn two_nodes(c: &mut ExperimentConfig, timeout: u64) {
    c.parallel = Some(ParallelConfig {
        devices: vec!["cpu".into()],
        cpu_threads: 1,
        nodes: 2,
        orchestrator: String::new(),
        port: free_port(),
        timeout_seconds: timeout,
    });
}

#[test]
fn two_processes_as_two_nodes_over_loopback_train_as_one_peer_does() {
    let tmp = tempfile::tempdir().unwrap();
    let one = run_to_end(config(tmp.path()));
    let mut c = config(tmp.path());
    c.name = "nodes".into();
    two_nodes(&mut c, 120);
    let dir = prepared(&c, tmp.path());
    let (mut a, mut b) = (node(&dir, 0), node(&dir, 1));
    let (ra, rb) = (a.wait().unwrap(), b.wait().unwrap());
    let err = |c: &mut std::process::Child| {
        let mut s = String::new();
        use std::io::Read;
        c.stderr.take().unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let (ea, eb) = (err(&mut a), err(&mut b));
    assert!(ra.success(), "node 0: {ea}\nnode 1: {eb}");
    assert!(rb.success(), "node 1: {eb}\nnode 0: {ea}");
    assert_eq!(load_dir(&dir).status, RunStatus::Finished);
    assert_same_training(&one, &dir);
    // Node 1 wrote only its own record.
    let node1 = std::fs::read_to_string(dir.join("nodes").join("node-1.jsonl")).unwrap();
    assert!(node1.contains("\"ended\""), "{node1}");
}

#[test]
fn a_node_killed_mid_run_ends_the_run_as_failed_within_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path());
    c.name = "killed".into();
    c.optim.epochs = 40;
    two_nodes(&mut c, 10);
    let dir = prepared(&c, tmp.path());
    let mut a = node(&dir, 0);
    let mut b = node(&dir, 1);
    // Wait for training to be under way, then kill node 1 as a lost machine would be.
    let until = Instant::now() + Duration::from_secs(120);
    while !steps(&dir).iter().any(|(s, _, _)| *s >= 8) {
        assert!(Instant::now() < until, "no training in 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    b.kill().unwrap();
    let _ = b.wait();
    let killed = Instant::now();
    let status = a.wait().unwrap();
    let took = killed.elapsed();
    assert!(!status.success());
    assert!(took < Duration::from_secs(60), "node 0 took {took:?} to end");
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Failed);
    // Node 0 learns it either from the all-reduce breaking (the connection to node 1 is gone) or, when nothing
    // breaks, from the step timeout.
    let message = &run.summary.message;
    assert!(
        message.contains("did not answer within 10 s") || message.contains("another node stopped"),
        "{message}"
    );
    assert!(latest_complete(&dir.join("checkpoints")).is_some(), "the epochs' checkpoints are intact");
}
