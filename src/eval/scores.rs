//! Scored trials: cosine scoring from embeddings, and the plain-text score file every run writes.
//!
//! A score file has one trial per line, four whitespace-separated fields:
//!
//! ```text
//! id10270/x6uYqmx31kE/00001.wav id10300/ize_eiCFEg0/00003.wav 0.12345 nontarget
//! ```
//!
//! `enroll test score label`, where the label is `target` or `nontarget`, or `1` or `0` (any letter case), and the
//! score a finite decimal number. Blank lines are skipped; anything else malformed is an error naming the file and
//! the line. Files are written with `target`/`nontarget` and the shortest decimal that reads back to the same
//! `f64`, so a written file reads back exactly. This is WeSpeaker's score-file layout.
//!
//! [`score_trials`] turns a trial list and an utterance → embedding map into cosine scores, normalising each
//! embedding once, however many trials it appears in.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::norm::{dot, Matrix};
use super::EvalError;

/// One trial with its score and ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredTrial {
    /// Enrolment utterance (or speaker model) identifier.
    pub enroll: String,
    /// Test utterance identifier.
    pub test: String,
    /// Higher means more likely the same speaker.
    pub score: f64,
    /// Whether both sides are the same speaker.
    pub is_target: bool,
}

impl ScoredTrial {
    /// The `(score, is_target)` pair the metrics take.
    pub fn pair(&self) -> (f64, bool) {
        (self.score, self.is_target)
    }
}

/// Reads a score file (format in the module docs).
pub fn read_scores(path: &Path) -> Result<Vec<ScoredTrial>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    parse_scores(&text, path)
}

/// Parses the text of a score file; `path` is only used to name the file in errors.
pub fn parse_scores(text: &str, path: &Path) -> Result<Vec<ScoredTrial>, EvalError> {
    let mut trials = Vec::with_capacity(text.len() / 48);
    for (index, line) in text.lines().enumerate() {
        let error = |reason: String| EvalError::ScoreLine {
            path: path.to_owned(),
            line: index + 1,
            reason,
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [enroll, test, score, label] = fields[..] else {
            if fields.is_empty() {
                continue;
            }
            return Err(error(format!(
                "expected 4 fields `enroll test score label`, found {}: '{}'",
                fields.len(),
                line.trim()
            )));
        };
        let score: f64 = score
            .parse()
            .map_err(|_| error(format!("score '{score}' is not a number")))?;
        if !score.is_finite() {
            return Err(error(format!("score '{score}' is not finite")));
        }
        let is_target = parse_label(label)
            .ok_or_else(|| error(format!("label '{label}' is not one of target, nontarget, 1, 0")))?;
        trials.push(ScoredTrial {
            enroll: enroll.to_owned(),
            test: test.to_owned(),
            score,
            is_target,
        });
    }
    Ok(trials)
}

/// `target`/`1` → true, `nontarget`/`0` → false, case-insensitively; anything else → `None`.
fn parse_label(label: &str) -> Option<bool> {
    if label == "1" || label.eq_ignore_ascii_case("target") {
        Some(true)
    } else if label == "0" || label.eq_ignore_ascii_case("nontarget") {
        Some(false)
    } else {
        None
    }
}

/// Writes `trials` as a score file, replacing any existing file.
///
/// Fails before writing anything if an utterance id contains whitespace (it would not read back).
pub fn write_scores(path: &Path, trials: &[ScoredTrial]) -> Result<(), EvalError> {
    let bad_id = trials
        .iter()
        .flat_map(|t| [&t.enroll, &t.test])
        .find(|id| id.is_empty() || id.contains(char::is_whitespace));
    if let Some(id) = bad_id {
        return Err(EvalError::IdWithWhitespace {
            path: path.to_owned(),
            id: id.clone(),
        });
    }
    let io_error = |source| EvalError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::new(File::create(path).map_err(io_error)?);
    for t in trials {
        let label = if t.is_target { "target" } else { "nontarget" };
        writeln!(out, "{} {} {} {}", t.enroll, t.test, t.score, label).map_err(io_error)?;
    }
    out.flush().map_err(io_error)
}

/// Cosine-scores `(enroll, test, is_target)` trials from an utterance → embedding map.
///
/// Each embedding a trial names is scaled to unit length once; a trial then costs one dot product. Fails if a
/// trial names an utterance missing from `embeddings`, or embeddings differ in dimension or have zero length.
pub fn score_trials<'a, I>(trials: I, embeddings: &HashMap<String, Vec<f32>>) -> Result<Vec<ScoredTrial>, EvalError>
where
    I: IntoIterator<Item = (&'a str, &'a str, bool)>,
{
    // Rows of `unit` are the normalised embeddings in order of first use; `row_of` maps an utterance to its row.
    let mut unit: Option<Matrix> = None;
    let mut row_of: HashMap<&'a str, usize> = HashMap::new();
    let mut indexed = Vec::new();
    for (index, (enroll, test, is_target)) in trials.into_iter().enumerate() {
        let mut row = |key: &'a str| -> Result<usize, EvalError> {
            if let Some(&r) = row_of.get(key) {
                return Ok(r);
            }
            let embedding = embeddings.get(key).ok_or_else(|| EvalError::MissingEmbedding {
                trial: index,
                key: key.to_owned(),
                available: embeddings.len(),
            })?;
            let matrix = unit.get_or_insert_with(|| Matrix::with_cols(embedding.len()));
            matrix.push_unit_row(key, embedding)?;
            let r = matrix.rows() - 1;
            row_of.insert(key, r);
            Ok(r)
        };
        let (e, t) = (row(enroll)?, row(test)?);
        indexed.push((enroll, test, is_target, e, t));
    }
    let Some(unit) = unit else {
        return Ok(Vec::new());
    };
    Ok(indexed
        .into_iter()
        .map(|(enroll, test, is_target, e, t)| ScoredTrial {
            enroll: enroll.to_owned(),
            test: test.to_owned(),
            score: f64::from(dot(unit.row(e), unit.row(t))),
            is_target,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accept_both_forms_in_any_case() {
        for (label, expected) in [
            ("target", true),
            ("TARGET", true),
            ("1", true),
            ("NonTarget", false),
            ("0", false),
        ] {
            assert_eq!(parse_label(label), Some(expected), "{label}");
        }
        for label in ["tgt", "imp", "yes", "2", ""] {
            assert_eq!(parse_label(label), None, "{label}");
        }
    }

    #[test]
    fn parse_skips_blank_lines_and_numbers_lines_from_one() {
        let text = "a b 0.5 target\n\n  \nc d -1e-3 0\nbad line\n";
        let err = parse_scores(text, Path::new("s.txt")).unwrap_err();
        assert!(matches!(err, EvalError::ScoreLine { line: 5, .. }), "{err}");
        assert!(err.to_string().starts_with("s.txt:5: expected 4 fields"), "{err}");
        let ok = parse_scores(&text.replace("bad line\n", ""), Path::new("s.txt")).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(
            ok[1],
            ScoredTrial {
                enroll: "c".into(),
                test: "d".into(),
                score: -1e-3,
                is_target: false
            }
        );
    }

    #[test]
    fn cosine_scores_of_known_vectors() {
        let embeddings: HashMap<String, Vec<f32>> = [
            ("x".to_string(), vec![2.0, 0.0]),
            ("y".to_string(), vec![0.0, 5.0]),
            ("z".to_string(), vec![1.0, 1.0]),
        ]
        .into();
        let scored = score_trials([("x", "y", false), ("x", "z", true), ("z", "z", true)], &embeddings).unwrap();
        assert!(scored[0].score.abs() < 1e-7);
        assert!((scored[1].score - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((scored[2].score - 1.0).abs() < 1e-6);
    }
}
