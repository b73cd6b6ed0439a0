//! The columns of Compare's table: what each shows of a run, its title and tooltip, and how it sorts. Besides the
//! fixed columns there are two per trial list other than the runs' own (`summary.lists`, by label), so figures of
//! different lists never share a column, and one per config key the user picks (`Column::Key`).

use super::super::run_view::RunView;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Run,
    Method,
    Status,
    /// The run's tags (`notes.jsonl`); a tag clicked filters the table by it.
    Tags,
    Trainable,
    Share,
    Checkpoint,
    /// EER on the run's own trial list.
    Eer,
    Dcf01,
    Dcf05,
    /// EER on another trial list, by its label.
    ListEer(String),
    /// minDCF at 0.01 on another trial list, by its label.
    ListDcf01(String),
    Time,
    Throughput,
    Loss,
    /// A config key's value (dotted, as `runs::group::flatten` writes it).
    Key(String),
}

impl Column {
    /// The fixed columns, in table order.
    pub const FIXED: [Column; 13] = [
        Column::Run,
        Column::Method,
        Column::Status,
        Column::Tags,
        Column::Trainable,
        Column::Share,
        Column::Checkpoint,
        Column::Eer,
        Column::Dcf01,
        Column::Dcf05,
        Column::Time,
        Column::Throughput,
        Column::Loss,
    ];

    /// The table's columns: the fixed ones with two for each of `lists` after the run's own list's, and one for
    /// each config key of `keys` after the method.
    pub fn all(lists: &[String], keys: &[String]) -> Vec<Column> {
        let mut out = Vec::with_capacity(Self::FIXED.len() + 2 * lists.len() + keys.len());
        for col in Self::FIXED {
            if col == Column::Status {
                out.extend(keys.iter().map(|k| Column::Key(k.clone())));
            }
            let after_own = col == Column::Dcf05;
            out.push(col);
            if after_own {
                for label in lists {
                    out.push(Column::ListEer(label.clone()));
                    out.push(Column::ListDcf01(label.clone()));
                }
            }
        }
        out
    }

    pub fn title(&self) -> String {
        match self {
            Column::Run => "run".into(),
            Column::Tags => "tags".into(),
            Column::Method => "method".into(),
            Column::Status => "status".into(),
            Column::Trainable => "trainable params".into(),
            Column::Share => "share (%)".into(),
            Column::Checkpoint => "checkpoint (MB)".into(),
            Column::Eer => "EER (%)".into(),
            Column::Dcf01 => "minDCF 0.01".into(),
            Column::Dcf05 => "minDCF 0.05".into(),
            Column::ListEer(label) => format!("{label} EER (%)"),
            Column::ListDcf01(label) => format!("{label} minDCF 0.01"),
            Column::Time => "time".into(),
            Column::Throughput => "crops/s".into(),
            Column::Loss => "final loss".into(),
            Column::Key(key) => key.clone(),
        }
    }

    pub fn tooltip(&self) -> String {
        match self {
            Column::Share => super::super::param_counter::SHARE_DEFINITION.into(),
            Column::Checkpoint => {
                "size of the run's last checkpoint file (trainable tensors; the whole model for full fine-tuning)".into()
            }
            Column::Eer => {
                "equal error rate of the latest evaluation on the run's own trial list (hover a value for the list and \
                 step); other lists have columns of their own"
                    .into()
            }
            Column::Dcf01 | Column::Dcf05 => "normalised minimum detection cost at this target prior, run's own list".into(),
            Column::ListEer(label) | Column::ListDcf01(label) => format!(
                "latest evaluation on the trial list labelled {label:?} (eval.lists, or adaptsv eval --run DIR --trials \
                 FILE --label {label})"
            ),
            Column::Key(key) => format!("the config's {key}"),
            Column::Tags => "the run's tags (Monitor, or adaptsv note DIR --tag T); click one to show only its runs".into(),
            Column::Time => "wall time of training, from the first event to the last (later evaluations not counted)".into(),
            Column::Throughput => "training crops per second, mean of the last epoch".into(),
            _ => String::new(),
        }
    }

    /// The cell's numeric value, for sorting (`None` sorts last).
    pub fn value(&self, r: &RunView) -> Option<f64> {
        let s = &r.summary;
        match self {
            Column::Trainable => s.trainable_params.map(|t| t.saturating_sub(s.classifier_params.unwrap_or(0)) as f64),
            Column::Share => s.trainable_percent(),
            Column::Checkpoint => s.checkpoint_bytes.map(|b| b as f64 / 1e6),
            Column::Eer => s.eer.map(|e| 100.0 * e),
            Column::Dcf01 => s.min_dcf.get("0.01").copied(),
            Column::Dcf05 => s.min_dcf.get("0.05").copied(),
            Column::ListEer(label) => s.lists.get(label).map(|l| 100.0 * l.eer),
            Column::ListDcf01(label) => s.lists.get(label).and_then(|l| l.min_dcf.get("0.01").copied()),
            Column::Time => (s.seconds > 0.0).then_some(s.seconds),
            Column::Throughput => s.samples_per_sec,
            Column::Loss => s.final_loss,
            Column::Key(key) => r.flat_config().get(key).and_then(|v| v.parse().ok()),
            Column::Run | Column::Method | Column::Status | Column::Tags => None,
        }
    }

    pub fn text(&self, r: &RunView) -> String {
        match self {
            Column::Run => r.id.clone(),
            Column::Method => r.method().to_string(),
            Column::Status => r.status.to_string(),
            Column::Tags => r.notes.tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" "),
            Column::Trainable
            | Column::Time
            | Column::Share
            | Column::Eer
            | Column::ListEer(_)
            | Column::Checkpoint
            | Column::Throughput
            | Column::Dcf01
            | Column::Dcf05
            | Column::ListDcf01(_)
            | Column::Loss => self.value(r).map(|v| self.format(v)).unwrap_or_default(),
            Column::Key(key) => r.flat_config().get(key).map(|v| v.trim_matches('"').to_string()).unwrap_or_default(),
        }
    }

    /// A figure of this column as its cells write it (a run's value, or a group's mean and std).
    pub fn format(&self, v: f64) -> String {
        match self {
            Column::Trainable => format!("{v:.0}"),
            Column::Time => super::super::monitor::duration(v),
            Column::Dcf01 | Column::Dcf05 | Column::ListDcf01(_) | Column::Loss => format!("{v:.4}"),
            Column::Key(_) => format!("{v}"),
            _ => format!("{v:.2}"),
        }
    }

    /// Where a cell's figure comes from (trial list file and step), for its hover text.
    pub fn source(&self, r: &RunView) -> Option<String> {
        let s = &r.summary;
        match self {
            Column::Eer => Some(format!("{}, step {}", s.trials.as_deref()?, s.eer_step?)),
            Column::ListEer(label) => s.lists.get(label).map(|l| format!("{label}: {}, step {}", l.trials, l.step)),
            _ => None,
        }
    }
}

fn cmp_opt(a: Option<f64>, b: Option<f64>) -> Ordering {
    // Missing values sort last.
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Orders runs by a column (ascending).
pub fn compare_by(col: &Column, a: &RunView, b: &RunView) -> Ordering {
    match col {
        Column::Run => a.id.cmp(&b.id),
        Column::Method => a.method().cmp(b.method()),
        Column::Status => a.status.to_string().cmp(&b.status.to_string()),
        Column::Tags => (b.notes.tags.is_empty(), col.text(a)).cmp(&(a.notes.tags.is_empty(), col.text(b))),
        // Numbers by value, other values (methods, layer lists) as text; a run without the key last.
        Column::Key(key) => match (col.value(a), col.value(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => match (a.flat_config().get(key), b.flat_config().get(key)) {
                (Some(x), Some(y)) => x.cmp(y),
                (x, y) => x.is_none().cmp(&y.is_none()),
            },
        },
        c => cmp_opt(c.value(a), c.value(b)),
    }
}

/// Whether a column's cells are numbers a group can average.
pub fn numeric(col: &Column) -> bool {
    !matches!(col, Column::Run | Column::Method | Column::Status | Column::Tags | Column::Key(_))
}

/// The labels of the trial lists other than their own that `runs` were evaluated on, sorted.
pub fn list_labels(runs: &[&RunView]) -> Vec<String> {
    let labels: std::collections::BTreeSet<&String> = runs.iter().flat_map(|r| r.summary.lists.keys()).collect();
    labels.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_other_list_gets_its_own_columns_after_the_runs_own() {
        let cols = Column::all(&["vox1-E".into(), "vox1-H".into()], &[]);
        let titles: Vec<String> = cols.iter().map(Column::title).collect();
        let own = titles.iter().position(|t| t == "EER (%)").unwrap();
        assert_eq!(titles[own + 3], "vox1-E EER (%)");
        assert_eq!(titles[own + 4], "vox1-E minDCF 0.01");
        assert_eq!(titles[own + 5], "vox1-H EER (%)");
        assert_eq!(cols.len(), Column::FIXED.len() + 4);
        let with_key = Column::all(&[], &["adaptation.inner.bottleneck".into()]);
        assert_eq!(with_key[2], Column::Key("adaptation.inner.bottleneck".into()));
    }
}
