//! Runs grouped as a researcher reads them: runs whose configs agree on every key except a chosen few (by default
//! `seed`) are one group, shown as n, mean ± std and min–max of each figure. Compare and `adaptsv compare` both
//! use this, so the app and the terminal group alike.
//!
//! A config is compared as its dotted keys (`adaptation.inner.bottleneck = 8`, as TOML writes the value).
//! `name`, `description` and `output_dir` never split a group: they name a run, they do not change it (a sweep
//! names each seed's run apart). A key in `except` leaves out itself and every key under it (`data.synthetic`
//! leaves out the synthetic corpus's settings). Runs whose config cannot be read are each a group of their own.

use super::Summary;
use crate::config::ExperimentConfig;
use std::collections::{BTreeMap, BTreeSet};

/// Keys that name a run rather than change it: never part of a group's identity.
pub const BOOKKEEPING: [&str; 4] = ["name", "description", "output_dir", "sweep"];

/// The config as `dotted.key → value` (values as TOML writes them; arrays and inline tables whole).
pub fn flatten(config: &ExperimentConfig) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(toml::Value::Table(table)) = toml::Value::try_from(config) {
        flatten_into(&table, "", &mut out);
    }
    out
}

fn flatten_into(table: &toml::Table, prefix: &str, out: &mut BTreeMap<String, String>) {
    for (key, value) in table {
        let dotted = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) => flatten_into(inner, &dotted, out),
            toml::Value::String(s) => {
                out.insert(dotted, format!("{s:?}"));
            }
            other => {
                out.insert(dotted, other.to_string());
            }
        }
    }
}

/// Short names of `groups`, in order: for each, the fewest keys of its identity (the method first, then in key
/// order) that tell it from every other group, as `key=value`; a key is written by its last part, or its last
/// two where keys of the groups end alike (`inner.enabled=false`). Empty for a group without identity (the only
/// group). `method=adapters inner.enabled=false` reads where the whole identity (every other method's unused
/// options too) would not.
pub fn labels(groups: &[Group]) -> Vec<String> {
    let all_keys: Vec<&String> = groups.iter().flat_map(|g| g.identity.keys()).collect::<BTreeSet<_>>().into_iter().collect();
    let short = |key: &str| crate::config::short_key(key, &all_keys);
    groups
        .iter()
        .enumerate()
        .map(|(g, group)| {
            let mut keys: Vec<&String> = group.identity.keys().collect();
            keys.sort_by_key(|k| (k.as_str() != "adaptation.method", k.as_str()));
            let mut rivals: Vec<usize> = (0..groups.len()).filter(|&r| r != g).collect();
            let mut parts = Vec::new();
            for k in keys {
                if rivals.is_empty() {
                    break;
                }
                let v = &group.identity[k];
                if rivals.iter().any(|&r| groups[r].identity.get(k) != Some(v)) {
                    parts.push(format!("{}={}", short(k), v.trim_matches('"')));
                    rivals.retain(|&r| groups[r].identity.get(k) == Some(v));
                }
            }
            parts.join(" ")
        })
        .collect()
}

/// Whether `key` is `except` or under it.
fn covered(key: &str, except: &str) -> bool {
    key == except || key.strip_prefix(except).is_some_and(|rest| rest.starts_with('.'))
}

/// The keys whose values differ among `configs` (a key missing from some counts as differing), bookkeeping keys
/// left out, sorted: the candidates for columns and for "group by everything except".
pub fn differing_keys(configs: &[Option<&ExperimentConfig>]) -> Vec<String> {
    let flat: Vec<BTreeMap<String, String>> = configs.iter().flatten().map(|c| flatten(c)).collect();
    let keys: BTreeSet<&String> = flat.iter().flat_map(|f| f.keys()).collect();
    keys.into_iter()
        .filter(|k| !BOOKKEEPING.contains(&k.as_str()))
        .filter(|k| flat.iter().any(|f| f.get(*k) != flat[0].get(*k)))
        .cloned()
        .collect()
}

/// Runs that agree on every config key but `except` (and the bookkeeping keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Indices of its runs in the slice given to [`group`], in that order.
    pub members: Vec<usize>,
    /// The values of the keys that tell this group from the others (keys that differ among groups; empty with
    /// one group), so a group can be named.
    pub identity: BTreeMap<String, String>,
}

/// Groups runs by their configs (`None`: unreadable, a group of its own). Groups come in the order of their first
/// run.
pub fn group(configs: &[Option<&ExperimentConfig>], except: &[String]) -> Vec<Group> {
    let keep = |k: &str| !BOOKKEEPING.contains(&k) && !except.iter().any(|e| covered(k, e));
    let identities: Vec<Option<BTreeMap<String, String>>> = configs
        .iter()
        .map(|c| c.map(|c| flatten(c).into_iter().filter(|(k, _)| keep(k)).collect()))
        .collect();
    let mut groups: Vec<(Option<&BTreeMap<String, String>>, Vec<usize>)> = Vec::new();
    for (i, identity) in identities.iter().enumerate() {
        match identity.as_ref().and_then(|id| groups.iter_mut().find(|(g, _)| *g == Some(id))) {
            Some((_, members)) => members.push(i),
            None => groups.push((identity.as_ref(), vec![i])),
        }
    }
    // The keys on which the groups differ name them.
    let all: Vec<&BTreeMap<String, String>> = groups.iter().filter_map(|(id, _)| *id).collect();
    let telling: BTreeSet<&String> = all
        .iter()
        .flat_map(|id| id.keys())
        .filter(|k| all.iter().any(|id| id.get(*k) != all[0].get(*k)))
        .collect();
    groups
        .into_iter()
        .map(|(id, members)| Group {
            identity: id
                .map(|id| id.iter().filter(|(k, _)| telling.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            members,
        })
        .collect()
}

/// n, mean, sample standard deviation (n − 1; 0 for one value), min and max of a figure over a group's runs that
/// have it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stat {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    /// `None` when no value is given (non-finite values are left out).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = if n > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        let (min, max) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        Some(Stat { n, mean, std: var.sqrt(), min, max })
    }

    /// Whether every value is the same (a group of one, or a figure its runs share).
    pub fn is_constant(&self) -> bool {
        self.n == 1 || self.min == self.max
    }

    /// `mean ± std`, each number as `fmt` writes it; the one value when [`Stat::is_constant`] (no "± 0").
    pub fn text(&self, fmt: impl Fn(f64) -> String) -> String {
        if self.is_constant() {
            fmt(self.mean)
        } else {
            format!("{} ± {}", fmt(self.mean), fmt(self.std))
        }
    }
}

/// The figures of a run that a group averages, by name: EER (%) and minDCF of the run's own list and of each other
/// list (`eer_percent[LABEL]`, …), final loss, trainable share (%), training seconds and crops per second.
pub fn figures(summary: &Summary) -> Vec<(String, Option<f64>)> {
    let s = summary;
    let mut out = vec![
        ("eer_percent".to_string(), s.eer.map(|e| 100.0 * e)),
        ("min_dcf_0.01".to_string(), s.min_dcf.get("0.01").copied()),
        ("min_dcf_0.05".to_string(), s.min_dcf.get("0.05").copied()),
    ];
    for (label, l) in &s.lists {
        out.push((format!("eer_percent[{label}]"), Some(100.0 * l.eer)));
        out.push((format!("min_dcf_0.01[{label}]"), l.min_dcf.get("0.01").copied()));
    }
    out.extend([
        ("final_loss".to_string(), s.final_loss),
        ("trainable_percent".to_string(), s.trainable_percent()),
        ("seconds".to_string(), (s.seconds > 0.0).then_some(s.seconds)),
        ("samples_per_sec".to_string(), s.samples_per_sec),
    ]);
    out
}

/// Each figure's [`Stat`] over the summaries of a group, by name (figures no run has are left out).
pub fn group_stats(summaries: &[&Summary]) -> BTreeMap<String, Stat> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in summaries {
        for (name, value) in figures(s) {
            if let Some(v) = value {
                values.entry(name).or_default().push(v);
            }
        }
    }
    values.into_iter().filter_map(|(k, v)| Stat::of(v).map(|s| (k, s))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_names_only_what_tells_its_group_apart() {
        let id = |pairs: &[(&str, &str)]| Group {
            members: vec![0],
            identity: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let groups = [
            id(&[("adaptation.method", "\"houlsby\""), ("adaptation.inner.enabled", "true"), ("adaptation.inter.enabled", "true")]),
            id(&[("adaptation.method", "\"adapters\""), ("adaptation.inner.enabled", "true"), ("adaptation.inter.enabled", "true")]),
            id(&[("adaptation.method", "\"adapters\""), ("adaptation.inner.enabled", "false"), ("adaptation.inter.enabled", "true")]),
            id(&[("adaptation.method", "\"adapters\""), ("adaptation.inner.enabled", "true"), ("adaptation.inter.enabled", "false")]),
        ];
        assert_eq!(
            labels(&groups),
            [
                "method=houlsby",
                "method=adapters inner.enabled=true inter.enabled=true",
                "method=adapters inner.enabled=false",
                "method=adapters inner.enabled=true inter.enabled=false",
            ]
        );
        assert_eq!(labels(&[id(&[])]), [""]);
    }

    fn config(name: &str, seed: u64, method: &str) -> ExperimentConfig {
        let mut c = ExperimentConfig::builtin_default();
        c.name = name.into();
        c.seed = seed;
        if method == "lora" {
            c.adaptation.method = crate::config::Method::Lora;
        }
        c
    }

    #[test]
    fn seeds_group_and_methods_split() {
        let cs = [
            config("a-s1", 1, "adapters"),
            config("l-s1", 1, "lora"),
            config("a-s2", 2, "adapters"),
            config("l-s2", 2, "lora"),
        ];
        let refs: Vec<Option<&ExperimentConfig>> = cs.iter().map(Some).chain([None]).collect();
        let groups = group(&refs, &["seed".to_string()]);
        let members: Vec<Vec<usize>> = groups.iter().map(|g| g.members.clone()).collect();
        assert_eq!(members, [vec![0, 2], vec![1, 3], vec![4]]);
        assert_eq!(groups[0].identity["adaptation.method"], "\"adapters\"");
        assert!(!groups[0].identity.contains_key("seed") && !groups[0].identity.contains_key("name"));
        // Nothing left out: every run alone.
        assert_eq!(group(&refs, &[]).len(), 5);
        assert!(differing_keys(&refs).contains(&"seed".to_string()));
        assert!(!differing_keys(&refs).contains(&"name".to_string()));
    }

    #[test]
    fn a_prefix_leaves_out_the_keys_under_it_only() {
        assert!(covered("data.synthetic.seed", "data.synthetic"));
        assert!(covered("seed", "seed"));
        assert!(!covered("data.synthetic_x", "data.synthetic"));
        assert!(!covered("data.synthetic.seed", "seed"));
    }

    #[test]
    fn stats_use_the_sample_standard_deviation() {
        let s = Stat::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (8, 5.0, 2.0, 9.0));
        assert!((s.std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(Stat::of([3.0]).unwrap().std, 0.0);
        assert!(Stat::of([f64::NAN]).is_none());
    }
}
