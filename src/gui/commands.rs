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
    OpenRuns,
    RefreshRuns,
    Launch,
    PauseRun,
    ResumeRun,
    StopRun,
    ToggleTheme,
}

impl UiCommand {
    pub const ALL: [UiCommand; 12] = [
        UiCommand::ShowConfigure,
        UiCommand::ShowMonitor,
        UiCommand::ShowCompare,
        UiCommand::OpenConfig,
        UiCommand::SaveConfigAs,
        UiCommand::OpenRuns,
        UiCommand::RefreshRuns,
        UiCommand::Launch,
        UiCommand::PauseRun,
        UiCommand::ResumeRun,
        UiCommand::StopRun,
        UiCommand::ToggleTheme,
    ];

    pub fn label(self) -> &'static str {
        match self {
            UiCommand::ShowConfigure => "Configure",
            UiCommand::ShowMonitor => "Monitor",
            UiCommand::ShowCompare => "Compare",
            UiCommand::OpenConfig => "Open config…",
            UiCommand::SaveConfigAs => "Save config as…",
            UiCommand::OpenRuns => "Open runs…",
            UiCommand::RefreshRuns => "Refresh runs",
            UiCommand::Launch => "Launch",
            UiCommand::PauseRun => "Pause",
            UiCommand::ResumeRun => "Resume",
            UiCommand::StopRun => "Stop",
            UiCommand::ToggleTheme => "Theme",
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            UiCommand::ShowConfigure => "Edit an experiment: model, adapters, aggregation, data, optimisation",
            UiCommand::ShowMonitor => "Watch runs: loss, layer weights, EER, DET",
            UiCommand::ShowCompare => "Compare runs side by side",
            UiCommand::OpenConfig => "Load an experiment config (TOML) from disk",
            UiCommand::SaveConfigAs => "Write the current experiment config to a TOML file",
            UiCommand::OpenRuns => {
                "Watch a run folder, or a folder of runs (copied from a server, on a shared filesystem)"
            }
            UiCommand::RefreshRuns => "Re-read the run folders now",
            UiCommand::Launch => {
                "Queue this experiment on its device; it trains in the background when the device is free (a new run folder)"
            }
            UiCommand::PauseRun => "Hold the selected run before its next step",
            UiCommand::ResumeRun => "Let the selected paused run go on",
            UiCommand::StopRun => "Stop the selected run after its current step, with a checkpoint (resumable)",
            UiCommand::ToggleTheme => "Switch between the dark and the light theme",
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
            UiCommand::OpenRuns => KeyboardShortcut::new(cmd | Modifiers::SHIFT, Key::O),
            UiCommand::RefreshRuns => KeyboardShortcut::new(Modifiers::NONE, Key::F5),
            UiCommand::Launch => KeyboardShortcut::new(cmd, Key::Enter),
            UiCommand::PauseRun => KeyboardShortcut::new(cmd | Modifiers::SHIFT, Key::P),
            UiCommand::ResumeRun => KeyboardShortcut::new(cmd | Modifiers::SHIFT, Key::R),
            UiCommand::StopRun => KeyboardShortcut::new(cmd | Modifiers::SHIFT, Key::Period),
            UiCommand::ToggleTheme => KeyboardShortcut::new(cmd | Modifiers::SHIFT, Key::T),
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
