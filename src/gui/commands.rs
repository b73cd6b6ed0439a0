//! Every GUI action in one enum: menus, keyboard shortcuts and tooltips are generated from this list, so a
//! shortcut is defined once and a test can check that no two clash.

use eframe::egui::{Key, KeyboardShortcut, Modifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiCommand {
    ShowConfigure,
    ShowMonitor,
    ShowCompare,
    OpenConfig,
    SaveConfigAs,
    RefreshRuns,
    Launch,
    StopRun,
}

impl UiCommand {
    pub const ALL: [UiCommand; 8] = [
        UiCommand::ShowConfigure,
        UiCommand::ShowMonitor,
        UiCommand::ShowCompare,
        UiCommand::OpenConfig,
        UiCommand::SaveConfigAs,
        UiCommand::RefreshRuns,
        UiCommand::Launch,
        UiCommand::StopRun,
    ];

    pub fn label(self) -> &'static str {
        match self {
            UiCommand::ShowConfigure => "Configure",
            UiCommand::ShowMonitor => "Monitor",
            UiCommand::ShowCompare => "Compare",
            UiCommand::OpenConfig => "Open config…",
            UiCommand::SaveConfigAs => "Save config as…",
            UiCommand::RefreshRuns => "Refresh runs",
            UiCommand::Launch => "Launch",
            UiCommand::StopRun => "Stop",
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            UiCommand::ShowConfigure => "Edit an experiment: model, adapters, aggregation, data, optimisation",
            UiCommand::ShowMonitor => "Watch runs: loss, layer weights, EER, DET",
            UiCommand::ShowCompare => "Compare runs side by side",
            UiCommand::OpenConfig => "Load an experiment config (TOML) from disk",
            UiCommand::SaveConfigAs => "Write the current experiment config to a TOML file",
            UiCommand::RefreshRuns => "Re-read the run folders now",
            UiCommand::Launch => "Train this experiment on its device in the background (a new run folder)",
            UiCommand::StopRun => "Stop the selected run after its current step, with a checkpoint (resumable)",
        }
    }

    pub fn shortcut(self) -> Option<KeyboardShortcut> {
        let cmd = Modifiers::COMMAND;
        Some(match self {
            UiCommand::ShowConfigure => KeyboardShortcut::new(cmd, Key::Num1),
            UiCommand::ShowMonitor => KeyboardShortcut::new(cmd, Key::Num2),
            UiCommand::ShowCompare => KeyboardShortcut::new(cmd, Key::Num3),
            UiCommand::OpenConfig => KeyboardShortcut::new(cmd, Key::O),
            UiCommand::SaveConfigAs => KeyboardShortcut::new(cmd | Modifiers::SHIFT, Key::S),
            UiCommand::RefreshRuns => KeyboardShortcut::new(Modifiers::NONE, Key::F5),
            UiCommand::Launch => KeyboardShortcut::new(cmd, Key::Enter),
            UiCommand::StopRun => KeyboardShortcut::new(cmd | Modifiers::SHIFT, Key::Period),
        })
    }

    /// Label with its shortcut, for menus and buttons' hover text.
    pub fn hover_text(self, ctx: &eframe::egui::Context) -> String {
        match self.shortcut() {
            Some(s) => format!("{} ({})", self.tooltip(), ctx.format_shortcut(&s)),
            None => self.tooltip().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_commands_share_a_shortcut() {
        let shortcuts: Vec<_> = UiCommand::ALL.iter().filter_map(|c| c.shortcut()).collect();
        for (i, a) in shortcuts.iter().enumerate() {
            for b in &shortcuts[i + 1..] {
                assert_ne!(a, b, "two commands share a shortcut");
            }
        }
    }
}
