//! Compare's table as CSV, for papers and scripts.

use super::super::run_view::RunView;
use super::columns::list_labels;

/// The comparison table as CSV, one row per run, with units in the header and the source of each EER
/// (trial list, step); after the fixed columns, five per trial list other than the runs' own
/// (`eer_percent[LABEL]`, …). Values a run does not have are empty.
pub fn runs_csv(runs: &[&RunView]) -> String {
    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    }
    let opt = |v: Option<f64>, digits: usize| v.map(|x| format!("{x:.digits$}")).unwrap_or_default();
    let lists = list_labels(runs);
    let mut out = String::from(
        "run,name,method,status,steps,epochs,final_loss,eer_percent,min_dcf_0.01,min_dcf_0.05,trials,eer_step,trainable_percent,trainable_params,total_params,classifier_params,checkpoint_bytes,seconds,samples_per_sec,tags,note",
    );
    for label in &lists {
        for key in ["eer_percent", "min_dcf_0.01", "min_dcf_0.05", "trials", "eer_step"] {
            out.push(',');
            out.push_str(&field(&format!("{key}[{label}]")));
        }
    }
    out.push('\n');
    for run in runs {
        let s = &run.summary;
        let row = [
            field(&run.id),
            field(run.name()),
            run.method().to_string(),
            run.status.to_string(),
            s.steps.to_string(),
            format!("{:.3}", s.epochs),
            opt(s.final_loss, 5),
            opt(s.eer.map(|e| 100.0 * e), 4),
            opt(s.min_dcf.get("0.01").copied(), 5),
            opt(s.min_dcf.get("0.05").copied(), 5),
            field(s.trials.as_deref().unwrap_or("")),
            s.eer_step.map(|x| x.to_string()).unwrap_or_default(),
            opt(s.trainable_percent(), 4),
            s.trainable_params.map(|x| x.to_string()).unwrap_or_default(),
            s.total_params.map(|x| x.to_string()).unwrap_or_default(),
            s.classifier_params.map(|x| x.to_string()).unwrap_or_default(),
            s.checkpoint_bytes.map(|x| x.to_string()).unwrap_or_default(),
            format!("{:.1}", s.seconds),
            opt(s.samples_per_sec, 2),
            field(&run.notes.tags.iter().cloned().collect::<Vec<_>>().join(" ")),
            field(&run.notes.note),
        ];
        let mut row = row.to_vec();
        for label in &lists {
            let l = s.lists.get(label);
            row.push(opt(l.map(|l| 100.0 * l.eer), 4));
            row.push(opt(l.and_then(|l| l.min_dcf.get("0.01").copied()), 5));
            row.push(opt(l.and_then(|l| l.min_dcf.get("0.05").copied()), 5));
            row.push(field(l.map_or("", |l| l.trials.as_str())));
            row.push(l.map(|l| l.step.to_string()).unwrap_or_default());
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::RunEvent;

    #[test]
    fn csv_has_one_row_per_run_with_units_and_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::ExperimentConfig::builtin_default();
        config.name = "a".into();
        let mut w = crate::runs::RunWriter::create(dir.path(), &config).unwrap();
        let mut dcf = std::collections::BTreeMap::new();
        dcf.insert("0.01".to_string(), 0.25);
        w.emit(RunEvent::Eval {
            step: 7,
            epoch: 1.0,
            trials: "veri test, 2.txt".into(),
            list: None,
            n_target: 1,
            n_nontarget: 1,
            eer: 0.0123,
            min_dcf: dcf,
            det: vec![],
            scores_file: None,
        })
        .unwrap();
        w.end(crate::runs::EndStatus::Finished, "", None).unwrap();
        let loaded = crate::runs::RunStore::new(dir.path()).list().unwrap();
        let mut view = RunView::new(&loaded[0].dir);
        view.config = loaded[0].config.clone();
        let mut tail = crate::runs::MetricsTail::new(loaded[0].dir.join(crate::runs::METRICS_FILE));
        for (line, rec) in tail.poll().unwrap().records {
            view.push(line, rec);
        }
        view.status = loaded[0].status;
        view.settle();
        let csv = runs_csv(&[&view]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("run,name,method,status,steps,epochs,final_loss,eer_percent,"));
        let cells = lines[1].split(',').collect::<Vec<_>>();
        assert_eq!(cells[1], "a");
        assert_eq!(cells[2], "adapters");
        assert_eq!(cells[3], "finished");
        assert_eq!(cells[7], "1.2300");
        assert_eq!(cells[8], "0.25000");
        assert!(lines[1].contains("\"veri test, 2.txt\",7,"), "{}", lines[1]);
    }
}
