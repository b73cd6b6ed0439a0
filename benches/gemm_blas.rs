//! The `gemm` crate (Flex's matmul, pure Rust) against a system BLAS's `cblas_sgemm` on the matrix shapes of a
//! WavLM Base+ training step and of embedding extraction, on this machine, alternating, 2 threads each. It is how
//! `docs/cpu-performance.md` decided whether plugging a BLAS into Flex would pay.
//!
//! `cargo bench --bench gemm_blas [-- ROUNDS]`. The BLAS is loaded at run time: OpenBLAS (`libopenblas.so.0`,
//! Debian `libopenblas0-pthread`) and BLIS (`libblis.so.4`, `libblis4-pthread`), whichever are installed; without
//! either only `gemm` is timed.

use std::time::Instant;

/// `cblas_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)`.
type Sgemm =
    unsafe extern "C" fn(i32, i32, i32, i32, i32, i32, f32, *const f32, i32, *const f32, i32, f32, *mut f32, i32);

const ROW_MAJOR: i32 = 101;
const NO_TRANS: i32 = 111;
const TRANS: i32 = 112;
const THREADS: usize = 2;

/// `C[m, n] = A[m, k] · B[k, n]`, `A` stored transposed when `ta`, `B` when `tb` (as autodiff's backward reads
/// them), and where each shape comes from.
const SHAPES: [(usize, usize, usize, bool, bool, &str); 10] = [
    (
        596,
        768,
        768,
        false,
        false,
        "q/k/v/out projection, batch 4 x 149 frames",
    ),
    (596, 768, 3072, false, false, "FFN up"),
    (596, 3072, 768, false, false, "FFN down"),
    (596, 768, 3072, false, true, "backward: input grad of FFN down"),
    (596, 3072, 768, false, true, "backward: input grad of FFN up"),
    (768, 596, 3072, true, false, "backward: weight grad of FFN up"),
    (3072, 596, 768, true, false, "backward: weight grad of FFN down"),
    (149, 768, 3072, false, false, "extraction: FFN up, 1 x 149 frames"),
    (149, 3072, 768, false, false, "extraction: FFN down"),
    (4799, 1536, 512, false, false, "CNN layer 2 (host conv), 3 s"),
];

struct Blas {
    name: &'static str,
    sgemm: Sgemm,
    _lib: libloading::Library,
}

fn load(name: &'static str, file: &str, set_threads: &[u8]) -> Option<Blas> {
    // SAFETY: loading a system BLAS runs its initialisers, which only set up its own state.
    let lib = unsafe { libloading::Library::new(file) }.ok()?;
    // SAFETY: the symbols have the C signatures declared here (CBLAS and the libraries' own thread setters).
    unsafe {
        let sgemm = *lib.get::<Sgemm>(b"cblas_sgemm").ok()?;
        if let Ok(set) = lib.get::<unsafe extern "C" fn(i32)>(set_threads) {
            set(THREADS as i32);
        }
        Some(Blas { name, sgemm, _lib: lib })
    }
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut t: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build_global()
        .expect("the first pool");
    let blases: Vec<Blas> = [
        load("OpenBLAS", "libopenblas.so.0", b"openblas_set_num_threads"),
        load("BLIS", "libblis.so.4", b"bli_thread_set_num_threads"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if blases.is_empty() {
        println!("no BLAS found (apt-get install libopenblas0-pthread libblis4-pthread); timing gemm only");
    }
    println!(
        "{}; {THREADS} threads; median of 15 calls, {rounds} alternating rounds; ms per call (min–max over rounds)\n",
        adaptsv::bench::machine()
    );
    let names: Vec<&str> = std::iter::once("gemm").chain(blases.iter().map(|b| b.name)).collect();
    println!("| shape (m × k × n) | where | {} |", names.join(" | "));
    println!("|---|---|{}", "---:|".repeat(names.len()));
    for (m, k, n, ta, tb, what) in SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 * 0.1 - 0.6).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 * 0.1 - 0.5).collect();
        let mut c = vec![0f32; m * n];
        let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
        let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
        let mut times = vec![Vec::new(); names.len()];
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..names.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for who in order {
                let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                let ms = if who == 0 {
                    // SAFETY: the pointers cover m·k, k·n and m·n elements with the strides given.
                    median_ms(|| unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            cp,
                            1,
                            n as isize,
                            false,
                            ap,
                            a_cs,
                            a_rs,
                            bp,
                            b_cs,
                            b_rs,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::Rayon(0),
                        )
                    })
                } else {
                    let s = blases[who - 1].sgemm;
                    let (lda, ldb) = (if ta { m } else { k } as i32, if tb { k } else { n } as i32);
                    let (t_a, t_b) = (if ta { TRANS } else { NO_TRANS }, if tb { TRANS } else { NO_TRANS });
                    // SAFETY: as above, in CBLAS's row-major convention.
                    median_ms(|| unsafe {
                        s(
                            ROW_MAJOR, t_a, t_b, m as i32, n as i32, k as i32, 1.0, ap, lda, bp, ldb, 0.0, cp, n as i32,
                        )
                    })
                };
                times[who].push(ms);
            }
        }
        let cells: Vec<String> = times
            .iter()
            .map(|t| {
                let mut s = t.clone();
                s.sort_by(f64::total_cmp);
                format!("{:.2} ({:.2}–{:.2})", s[s.len() / 2], s[0], s[s.len() - 1])
            })
            .collect();
        println!(
            "| {m} × {k} × {n}{}{} | {what} | {} |",
            if ta { " Aᵀ" } else { "" },
            if tb { " Bᵀ" } else { "" },
            cells.join(" | ")
        );
    }
}
