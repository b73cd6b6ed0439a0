//! `adaptsv note`: tags and a free-text note on runs, the app's "tags" and "note" fields on a terminal. Edits are
//! appended to each run's `notes.jsonl` (`runs::notes`), so the app and this command can edit one run at once;
//! with no edit it prints each run's tags and note (`--history`: every edit with its time).

use crate::runs::notes::{self, check_tag, NoteEdit};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct NoteArgs {
    /// Run folders to tag or annotate.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Add a tag (one word: letters, digits, - _ . : / + =). Repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Remove a tag. Repeat for several.
    #[arg(long = "untag", value_name = "TAG")]
    pub untags: Vec<String>,
    /// Set the note (replaces the one before, which stays in the run's history).
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["text_file", "clear"])]
    pub text: Option<String>,
    /// Set the note from a file (`-`: standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "clear")]
    pub text_file: Option<PathBuf>,
    /// Remove the note.
    #[arg(long)]
    pub clear: bool,
    /// Print every edit with its time instead of the tags and note they leave.
    #[arg(long)]
    pub history: bool,
}

pub fn run(args: &NoteArgs) -> anyhow::Result<()> {
    let edits = edits(args)?;
    for dir in &args.runs {
        if !crate::runs::is_run_dir(dir) {
            anyhow::bail!("{}: not a run folder (no config.toml or metrics.jsonl)", dir.display());
        }
    }
    for dir in &args.runs {
        if !edits.is_empty() {
            notes::append(dir, &edits)?;
        }
        print(dir, args.history);
    }
    Ok(())
}

/// The edits asked for, tags checked before any run is touched.
fn edits(args: &NoteArgs) -> anyhow::Result<Vec<NoteEdit>> {
    let mut edits = Vec::new();
    for t in &args.tags {
        edits.push(NoteEdit::Tag {
            tag: check_tag(t).map_err(anyhow::Error::msg).context("--tag")?,
        });
    }
    for t in &args.untags {
        edits.push(NoteEdit::Untag {
            tag: check_tag(t).map_err(anyhow::Error::msg).context("--untag")?,
        });
    }
    let text = match (&args.text, &args.text_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(f)) if f.as_os_str() == "-" => {
            Some(std::io::read_to_string(std::io::stdin()).context("reading the note from standard input")?)
        }
        (None, Some(f)) => {
            Some(std::fs::read_to_string(f).with_context(|| format!("reading the note from {}", f.display()))?)
        }
        (None, None) => args.clear.then(String::new),
    };
    if let Some(text) = text {
        edits.push(NoteEdit::Note {
            text: text.trim_end().to_string(),
        });
    }
    Ok(edits)
}

fn print(dir: &std::path::Path, history: bool) {
    println!("{}", dir.display());
    if history {
        let (records, damage) = notes::read_log(dir);
        for r in records {
            let what = match r.edit {
                NoteEdit::Tag { tag } => format!("tag #{tag}"),
                NoteEdit::Untag { tag } => format!("untag #{tag}"),
                NoteEdit::Note { text } if text.is_empty() => "note cleared".into(),
                NoteEdit::Note { text } => format!("note: {}", text.replace('\n', "\n      ")),
            };
            println!("  {}  {what}", r.utc);
        }
        for d in damage {
            eprintln!("  ! {d}");
        }
        return;
    }
    let (n, damage) = notes::read(dir);
    let tags: Vec<String> = n.tags.iter().map(|t| format!("#{t}")).collect();
    println!(
        "  tags: {}",
        if tags.is_empty() {
            "(none)".into()
        } else {
            tags.join(" ")
        }
    );
    if n.note.is_empty() {
        println!("  note: (none)");
    } else {
        println!("  note: {}", n.note.replace('\n', "\n        "));
    }
    for d in damage {
        eprintln!("  ! {d}");
    }
}
