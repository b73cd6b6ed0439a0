//! `adaptsv compare`: the runs of a folder grouped as the app's Compare groups them (`runs::group`): runs whose
//! configs differ only in the keys given to `--group-by-except` (default `seed`) are one row with n, mean ± std
//! and min–max of each figure; as a table, one JSON object per group, or CSV.

use crate::runs::group::{group, group_stats, labels, Stat};
use crate::runs::{LoadedRun, RunFilter, RunStore};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Folder holding run folders.
    #[arg(long, default_value = "experiments/runs")]
    pub root: PathBuf,
    /// Runs that differ only in these config keys (dotted; a table name covers the keys under it) are one group.
    /// Repeat for several. `name`, `description` and `output_dir` never split a group.
    #[arg(long = "group-by-except", value_name = "KEY", default_values_t = vec!["seed".to_string()])]
    pub except: Vec<String>,
    /// Only the runs the app's filter shows: every word in the folder name, method, status, tags or note;
    /// `#tag` = runs with that tag.
    #[arg(long, value_name = "WORDS")]
    pub filter: Option<String>,
    /// Only finished runs (the others' figures are partial).
    #[arg(long)]
    pub finished: bool,
    /// Print one JSON object per group: its runs, the config values that tell it apart, and per figure n, mean,
    /// std (sample, n − 1), min and max.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV: one row per group, five columns per figure (`eer_percent_mean`, `…_std`, `…_n`, …).
    #[arg(long)]
    pub csv: bool,
}

/// The figures shown in the table, in order, with their headers and digits.
const TABLE_FIGURES: [(&str, &str, usize); 4] = [
    ("eer_percent", "EER %", 2),
    ("min_dcf_0.01", "minDCF 0.01", 3),
    ("trainable_percent", "TRAINABLE %", 2),
    ("seconds", "TIME s", 0),
];

struct Row<'a> {
    /// What tells it from the other groups (`runs::group::labels`), or its first run's name.
    label: String,
    runs: Vec<&'a LoadedRun>,
    identity: std::collections::BTreeMap<String, String>,
    stats: std::collections::BTreeMap<String, Stat>,
}

pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    let all = RunStore::new(&args.root).list()?;
    let filter = RunFilter::parse(args.filter.as_deref().unwrap_or(""));
    let runs: Vec<&LoadedRun> = all
        .iter()
        .filter(|r| !args.finished || r.status == crate::runs::RunStatus::Finished)
        .filter(|r| r.matches(&filter))
        .collect();
    let configs: Vec<_> = runs.iter().map(|r| r.config.as_ref()).collect();
    let groups = group(&configs, &args.except);
    let labels = labels(&groups);
    let rows: Vec<Row<'_>> = groups
        .into_iter()
        .zip(labels)
        .map(|(g, label)| {
            let members: Vec<&LoadedRun> = g.members.iter().map(|&i| runs[i]).collect();
            let summaries: Vec<_> = members.iter().map(|r| &r.summary).collect();
            let label = if label.is_empty() { members[0].name().to_string() } else { label };
            Row { label, stats: group_stats(&summaries), runs: members, identity: g.identity }
        })
        .collect();
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(&json_of(row))?);
        }
    } else if args.csv {
        print!("{}", csv(&rows));
    } else if rows.is_empty() {
        println!("no runs under {}", args.root.display());
    } else {
        println!("{}", table(&rows, &args.except));
    }
    Ok(())
}

fn json_of(row: &Row<'_>) -> serde_json::Value {
    serde_json::json!({
        "group": row.label.clone(),
        "n": row.runs.len(),
        "runs": row.runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        "names": row.runs.iter().map(|r| r.name().to_string()).collect::<Vec<_>>(),
        "method": row.runs.first().map(|r| r.method()),
        "identity": row.identity,
        "figures": row.stats,
    })
}

fn csv(rows: &[Row<'_>]) -> String {
    let names: std::collections::BTreeSet<&String> = rows.iter().flat_map(|r| r.stats.keys()).collect();
    let field = |t: &str| if t.contains([',', '"', '\n']) { format!("\"{}\"", t.replace('"', "\"\"")) } else { t.to_string() };
    let mut out = String::from("group,n,runs");
    for name in &names {
        for part in ["mean", "std", "n", "min", "max"] {
            out.push_str(&format!(",{}", field(&format!("{name}_{part}"))));
        }
    }
    out.push('\n');
    for row in rows {
        let ids: Vec<&str> = row.runs.iter().map(|r| r.id.as_str()).collect();
        out.push_str(&format!("{},{},{}", field(&row.label), row.runs.len(), field(&ids.join(" "))));
        for name in &names {
            match row.stats.get(*name) {
                Some(s) => out.push_str(&format!(",{},{},{},{},{}", s.mean, s.std, s.n, s.min, s.max)),
                None => out.push_str(",,,,,"),
            }
        }
        out.push('\n');
    }
    out
}

/// `mean ± std (min–max)`, or the one value its runs share.
fn cell(stat: Option<&Stat>, digits: usize) -> String {
    let fmt = |v: f64| format!("{v:.digits$}");
    match stat {
        None => "-".into(),
        Some(s) if s.is_constant() => s.text(fmt),
        Some(s) => format!("{} ({}–{})", s.text(fmt), fmt(s.min), fmt(s.max)),
    }
}

fn table(rows: &[Row<'_>], except: &[String]) -> String {
    let mut lines = vec![[
        "GROUP".to_string(),
        "METHOD".into(),
        "N".into(),
        TABLE_FIGURES[0].1.into(),
        TABLE_FIGURES[1].1.into(),
        TABLE_FIGURES[2].1.into(),
        TABLE_FIGURES[3].1.into(),
    ]];
    for row in rows {
        let f = |i: usize| cell(row.stats.get(TABLE_FIGURES[i].0), TABLE_FIGURES[i].2);
        lines.push([
            row.label.clone(),
            row.runs.first().map(|r| r.method().to_string()).unwrap_or_default(),
            row.runs.len().to_string(),
            f(0),
            f(1),
            f(2),
            f(3),
        ]);
    }
    format!(
        "{}\n(runs grouped by every config key except {}; mean ± sample std (min–max) over each group's runs)",
        super::runs_cmd::align(&lines),
        except.join(", ")
    )
}
