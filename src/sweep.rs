//! Sweeps: one base experiment and what to vary, expanded into the configs of its runs.
//!
//! ```toml
//! [sweep]
//! name = "paper-comparison"
//! base = "default.toml"            # relative to this file; omit for the built-in default
//!
//! [axes]                           # optional: every combination of these values (dotted config keys)
//! seed = [1, 2]
//!
//! [[variant]]                      # optional: named sets of overrides; each is crossed with the axes
//! name = "lora"
//! set = { "adaptation.method" = "lora", "adaptation.lora.rank" = 8 }
//! unset = ["model.checkpoint"]     # optional: keys removed from the base first
//! ```
//!
//! A variant (or axis value) that changes `adaptation.method` starts from that method's defaults: the base's
//! options of other methods are dropped first, as the GUI's method switch does (a config that sets options its
//! method ignores is invalid). Each run is named `<sweep>-<variant>[-<key>-<value>…]` (the key's last part).
//!
//! [`SweepState`] records which run folder belongs to which run name, so an interrupted sweep continues where it
//! stopped: finished runs are kept, stopped and crashed ones resumed, the rest launched.

use crate::config::{ExperimentConfig, DEFAULT_TOML};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    sweep: Header,
    #[serde(default)]
    axes: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    variant: Vec<Variant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    #[serde(default)]
    base: Option<PathBuf>,
}

/// A named set of overrides.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Dotted config key → value.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// Dotted config keys to remove from the base (e.g. `model.checkpoint` to use a preset instead).
    #[serde(default)]
    pub unset: Vec<String>,
}

/// A parsed sweep: its name, the base config's TOML, and what varies.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    /// The base config as TOML (origin for messages in `base_origin`).
    pub base: toml::Table,
    pub base_origin: String,
    pub axes: BTreeMap<String, Vec<toml::Value>>,
    pub variants: Vec<Variant>,
}

/// Whether a TOML text is a sweep (it has a `[sweep]` table) rather than an experiment config: both live in
/// `experiments/`.
pub fn is_sweep(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "[sweep]")
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRun {
    /// The run's name (also its config's `name`).
    pub name: String,
    pub config: ExperimentConfig,
}

/// Options of other methods, dropped when a run changes the method.
const METHOD_OPTIONS: [&str; 7] = [
    "inner",
    "inter",
    "houlsby",
    "lora",
    "prefix",
    "partial_top_k",
    "freeze_feature_encoder",
];

impl Sweep {
    /// Reads a sweep file (and its base config, relative to it).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read sweep {}: {e}", path.display()))?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), |base| {
            let p = base_dir.join(base);
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| anyhow::anyhow!("cannot read the sweep's base config {}: {e}", p.display()))
        })
    }

    /// Parses sweep text; `read_base` reads the base config named in it (path as written → origin and text).
    pub fn parse(
        text: &str,
        origin: &str,
        read_base: impl Fn(&Path) -> anyhow::Result<(String, String)>,
    ) -> anyhow::Result<Self> {
        let file: SweepFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))?;
        let (base_origin, base_text) = match &file.sweep.base {
            Some(p) => read_base(p)?,
            None => ("built-in default".into(), DEFAULT_TOML.to_string()),
        };
        let base: toml::Table = toml::from_str(&base_text)
            .map_err(|e| anyhow::anyhow!("{base_origin}: {}", e.to_string().trim_end()))?;
        if file.sweep.name.trim().is_empty() {
            anyhow::bail!("{origin}: sweep.name is empty");
        }
        for (k, v) in &file.axes {
            if v.is_empty() {
                anyhow::bail!("{origin}: axes.{k} lists no value");
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &file.variant {
            if !seen.insert(v.name.clone()) {
                anyhow::bail!("{origin}: two variants are named {:?}", v.name);
            }
        }
        Ok(Self {
            name: file.sweep.name,
            base,
            base_origin,
            axes: file.axes,
            variants: file.variant,
        })
    }

    /// A sweep of the given variants over `base` (the GUI's "compare methods": the current config as base).
    pub fn of_variants(name: &str, base: &ExperimentConfig, variants: Vec<Variant>) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.to_string(),
            base: toml::from_str(&base.to_toml_string())?,
            base_origin: "the current config".into(),
            axes: BTreeMap::new(),
            variants,
        })
    }

    /// Every run: variants (or the base alone) × every combination of the axes, each config validated.
    pub fn expand(&self) -> anyhow::Result<Vec<SweepRun>> {
        let variants = if self.variants.is_empty() {
            vec![Variant {
                name: String::new(),
                set: BTreeMap::new(),
                unset: Vec::new(),
            }]
        } else {
            self.variants.clone()
        };
        let mut combos: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (key, values) in &self.axes {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((key.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }
        let mut runs = Vec::new();
        for variant in &variants {
            for combo in &combos {
                let mut name = self.name.clone();
                if !variant.name.is_empty() {
                    name = format!("{name}-{}", variant.name);
                }
                for (k, v) in combo {
                    // `inner-bottleneck` where two axes end in `bottleneck`.
                    let short = crate::config::short_key(k, &self.axes.keys().collect::<Vec<_>>()).replace('.', "-");
                    name = format!("{name}-{short}-{}", value_text(v));
                }
                let overrides: Vec<(String, toml::Value)> =
                    variant.set.iter().map(|(k, v)| (k.clone(), v.clone())).chain(combo.iter().cloned()).collect();
                let mut table = self.base.clone();
                let method_changes = overrides
                    .iter()
                    .any(|(k, v)| k == "adaptation.method" && self.base_method() != v.as_str());
                if method_changes {
                    if let Some(toml::Value::Table(a)) = table.get_mut("adaptation") {
                        for key in METHOD_OPTIONS {
                            a.remove(key);
                        }
                    }
                }
                for k in &variant.unset {
                    unset_dotted(&mut table, k);
                }
                for (k, v) in &overrides {
                    set_dotted(&mut table, k, v.clone()).map_err(|e| anyhow::anyhow!("sweep {}, run {name}: {e}", self.name))?;
                }
                table.insert("name".into(), toml::Value::String(name.clone()));
                table.insert("sweep".into(), toml::Value::String(self.name.clone()));
                let text = toml::to_string(&table)?;
                let config = ExperimentConfig::from_toml_str(&text, &format!("sweep {} run {name}", self.name))?;
                runs.push(SweepRun { name, config });
            }
        }
        Ok(runs)
    }

    fn base_method(&self) -> Option<&str> {
        match self.base.get("adaptation") {
            Some(toml::Value::Table(a)) => Some(a.get("method").and_then(|m| m.as_str()).unwrap_or("adapters")),
            _ => Some("adapters"),
        }
    }
}

/// A value as it appears in a run name (`0.001`, `lora`, `1_2` for `[1, 2]`): characters a run folder name may
/// not hold become `_`.
fn value_text(v: &toml::Value) -> String {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect();
    cleaned.trim_matches('_').to_string()
}

/// Sets `a.b.c = value` in a TOML table, creating tables on the way.
pub fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, path) = parts.split_last().ok_or_else(|| "empty key".to_string())?;
    let mut t = table;
    for (i, p) in path.iter().enumerate() {
        let entry = t.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => return Err(format!("{key}: {} is not a table", parts[..=i].join("."))),
        };
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// Removes `a.b.c` from a TOML table, if it is there.
pub fn unset_dotted(table: &mut toml::Table, key: &str) {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((last, path)) = parts.split_last() else { return };
    let mut t = table;
    for p in path {
        match t.get_mut(*p) {
            Some(toml::Value::Table(inner)) => t = inner,
            _ => return,
        }
    }
    t.remove(*last);
}

/// Which run folder belongs to which run of a sweep (`state.json` in the sweep's folder).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepState {
    /// Run name → run folder.
    pub runs: BTreeMap<String, PathBuf>,
}

impl SweepState {
    pub const FILE: &'static str = "state.json";

    /// Reads the state in `dir` (empty when there is none yet).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e} (delete it to start the sweep over)", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(Self::FILE);
        crate::runs::write_atomic(&path, serde_json::to_string_pretty(self)?.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
    }
}

/// One row of a sweep's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub name: String,
    pub method: String,
    pub status: String,
    pub trainable: Option<u64>,
    pub share: Option<f64>,
    pub checkpoint_mb: Option<f64>,
    pub eer_percent: Option<f64>,
    pub min_dcf_01: Option<f64>,
    pub seconds: f64,
    pub dir: PathBuf,
}

impl SummaryRow {
    pub fn of(name: &str, run: &crate::runs::LoadedRun) -> Self {
        let s = &run.summary;
        Self {
            name: name.to_string(),
            method: run.method().to_string(),
            status: run.status.to_string(),
            trainable: s.trainable_params.map(|t| t.saturating_sub(s.classifier_params.unwrap_or(0))),
            share: s.trainable_percent(),
            checkpoint_mb: s.checkpoint_bytes.map(|b| b as f64 / 1e6),
            eer_percent: s.eer.map(|e| 100.0 * e),
            min_dcf_01: s.min_dcf.get("0.01").copied(),
            seconds: s.seconds,
            dir: run.dir.clone(),
        }
    }
}

const COLUMNS: [&str; 9] = [
    "run",
    "method",
    "status",
    "trainable params",
    "share (%)",
    "checkpoint (MB)",
    "EER (%)",
    "minDCF(0.01)",
    "time (s)",
];

fn cells(r: &SummaryRow) -> [String; 9] {
    let f = |v: Option<f64>, d: usize| v.map_or(String::new(), |x| format!("{x:.d$}"));
    [
        r.name.clone(),
        r.method.clone(),
        r.status.clone(),
        r.trainable.map_or(String::new(), |t| t.to_string()),
        f(r.share, 2),
        f(r.checkpoint_mb, 2),
        f(r.eer_percent, 2),
        f(r.min_dcf_01, 3),
        format!("{:.0}", r.seconds),
    ]
}

/// The summary as a Markdown table (printed at the end of `adaptsv sweep`, pasted into reports).
pub fn summary_markdown(rows: &[SummaryRow]) -> String {
    let mut out = format!("| {} |\n|{}|\n", COLUMNS.join(" | "), COLUMNS.map(|_| "---").join("|"));
    for r in rows {
        out.push_str(&format!("| {} |\n", cells(r).join(" | ")));
    }
    out
}

/// The summary as CSV (one header line, one line per run, the run folder last).
pub fn summary_csv(rows: &[SummaryRow]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = format!("{},run_folder\n", COLUMNS.join(","));
    for r in rows {
        let mut c: Vec<String> = cells(r).iter().map(|s| quote(s)).collect();
        c.push(quote(&r.dir.display().to_string()));
        out.push_str(&c.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;

    const SWEEP: &str = r#"
[sweep]
name = "cmp"

[axes]
seed = [1, 2]

[[variant]]
name = "frozen"
set = { "adaptation.method" = "frozen" }

[[variant]]
name = "inter-only"
set = { "adaptation.inner.enabled" = false }

[[variant]]
name = "lora"
set = { "adaptation.method" = "lora", "adaptation.lora.rank" = 4, "model.preset" = "wavlm-base" }
unset = ["model.checkpoint", "model.preset"]
"#;

    #[test]
    fn variants_cross_axes_and_a_new_method_starts_from_its_defaults() {
        let sweep = Sweep::parse(SWEEP, "test", |_| unreachable!("no base file")).unwrap();
        let runs = sweep.expand().unwrap();
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["cmp-frozen-seed-1", "cmp-frozen-seed-2", "cmp-inter-only-seed-1", "cmp-inter-only-seed-2", "cmp-lora-seed-1", "cmp-lora-seed-2"]
        );
        let frozen = &runs[0].config;
        assert_eq!(frozen.adaptation.method, Method::Frozen);
        assert_eq!(frozen.seed, 1);
        assert!(!frozen.adaptation.inner_enabled() && !frozen.adaptation.inter_enabled());
        let inter = &runs[3].config.adaptation;
        assert!(!inter.inner_enabled() && inter.inter_enabled());
        assert_eq!(runs[4].config.adaptation.lora.rank, 4);
        assert_eq!(runs[4].config.model.preset.as_deref(), Some("wavlm-base"), "unset first, then set");
        assert_eq!(runs[4].config.model.checkpoint, None);
        assert_eq!(runs[5].config.name, "cmp-lora-seed-2");
    }

    #[test]
    fn axes_ending_alike_keep_a_part_more_in_run_names_and_every_run_names_its_sweep() {
        let text = "[sweep]\nname = \"g\"\n[axes]\n\"adaptation.inner.bottleneck\" = [2]\n\"adaptation.inter.bottleneck\" = [4]\nseed = [1]\n";
        let runs = Sweep::parse(text, "g.toml", |_| unreachable!()).unwrap().expand().unwrap();
        assert_eq!(runs[0].name, "g-inner-bottleneck-2-inter-bottleneck-4-seed-1");
        assert_eq!(runs[0].config.sweep.as_deref(), Some("g"));
    }

    #[test]
    fn bad_sweeps_say_where() {
        let e = Sweep::parse("[sweep]\nname = \"x\"\n[[variant]]\nname = \"a\"\nset = { \"optim.epochs\" = 0 }\n", "s.toml", |_| unreachable!())
            .unwrap()
            .expand()
            .unwrap_err()
            .to_string();
        assert!(e.contains("optim.epochs"), "{e}");
        let e = Sweep::parse("[sweep]\nname = \"x\"\nbogus = 1\n", "s.toml", |_| unreachable!()).unwrap_err().to_string();
        assert!(e.contains("s.toml") && e.contains("bogus"), "{e}");
        let e = Sweep::parse("[sweep]\nname = \"x\"\n[[variant]]\nname = \"a\"\nset = { \"name.x\" = 1 }\n", "s.toml", |_| unreachable!())
            .unwrap()
            .expand()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a table"), "{e}");
    }

    #[test]
    fn the_summary_reads_as_markdown_and_csv() {
        let row = SummaryRow {
            name: "cmp-lora".into(),
            method: "lora".into(),
            status: "finished".into(),
            trainable: Some(1234),
            share: Some(5.0612),
            checkpoint_mb: Some(0.5),
            eer_percent: Some(12.345),
            min_dcf_01: Some(0.75),
            seconds: 61.2,
            dir: PathBuf::from("runs/a,b"),
        };
        let md = summary_markdown(std::slice::from_ref(&row));
        assert!(md.contains("| cmp-lora | lora | finished | 1234 | 5.06 | 0.50 | 12.35 | 0.750 | 61 |"), "{md}");
        let csv = summary_csv(&[row]);
        assert!(csv.lines().nth(1).unwrap().ends_with(",\"runs/a,b\""), "{csv}");
    }
}
